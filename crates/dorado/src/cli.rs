//! The command line of api.md.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "dorado", version, about = "DORA metrics for teams that deploy")]
pub struct Cli {
    /// Where the data lives: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "DORADO_DATABASE_URL",
        default_value = "sqlite://dorado.db"
    )]
    pub database: String,
    /// Print one JSON object (or array) on stdout and nothing else there.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the server (migrates the schema first).
    Serve(ServeArgs),
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Services of an organization.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Native sources: GitHub, GitLab, PagerDuty and CDEvents webhooks.
    #[command(subcommand)]
    Source(SourceCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Users of the web pages and basic auth.
    #[command(subcommand)]
    User(UserCommand),
    /// Rebuilds deployments, changes and incidents from the delivery log.
    Reindex {
        /// Only this organization (id or name); all of them by default.
        #[arg(long)]
        org: Option<String>,
    },
    /// Prints the DORA metrics of an organization or a service.
    Report(ReportArgs),
    /// Loads events in bulk: JSON lines of the event API, from a file or stdin.
    Import(ImportArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Id or name.
    #[arg(long)]
    pub org: String,
    /// One service (id or name); the whole organization by default.
    #[arg(long)]
    pub service: Option<String>,
    /// Inclusive: a date or an RFC 3339 time; default 30 days before --to.
    #[arg(long)]
    pub from: Option<String>,
    /// Exclusive: a date or an RFC 3339 time; default now.
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, default_value = "production")]
    pub environment: String,
    /// 2023 or 2021.
    #[arg(long, default_value = "2023")]
    pub benchmark: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Id or name.
    #[arg(long)]
    pub org: String,
    /// A file of JSON lines, one event object of the event API per line;
    /// `-` reads stdin.
    pub file: String,
    /// Lines stored as one delivery (what `dorado reindex` replays at once).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub chunk: u32,
    /// Exit 0 even when lines were refused (each is named on standard
    /// error either way; the other lines are imported).
    #[arg(long)]
    pub allow_rejects: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Environment, besides the flags' own:
  DORADO_LOG          log filter (default info): a level, or directives such as dorado=debug
  DORADO_SESSION_KEY  signs the pages' session cookies; set the same on every instance
  DORADO_PUBLIC_URL   the base of the webhook URLs the pages show (default: the request's host)")]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "DORADO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The largest body of a single write: bytes, or a size such as 1MiB or
    /// 500KB.
    #[arg(long, env = "DORADO_BODY_LIMIT", default_value = "1MiB", value_parser = parse_size)]
    pub body_limit: usize,
    /// The largest body of an /events batch: bytes, or a size such as 32MiB.
    #[arg(long, env = "DORADO_BATCH_BODY_LIMIT", default_value = "32MiB", value_parser = parse_size)]
    pub batch_body_limit: usize,
    /// Writes that may wait for the writer; past that a write is answered
    /// 503 with Retry-After at once.
    #[arg(long, env = "DORADO_WRITE_QUEUE", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub write_queue: u32,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Creates an organization.
    Create { name: String },
    /// Lists organizations.
    List,
    /// Changes an organization's settings.
    Update {
        /// Id or name.
        org: String,
        /// Link an incident by time only to a deployment that finished at
        /// most this long before it (e.g. 24h, 90m, 2d); `none` removes it.
        #[arg(long)]
        incident_link_window: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Creates a service.
    Create {
        #[arg(long)]
        org: String,
        name: String,
    },
    /// Lists an organization's services.
    List {
        #[arg(long)]
        org: String,
    },
    /// Adds or removes the names by which native sources know a service:
    /// a repository (`github.com/acme/checkout`), a PagerDuty service id or
    /// name, a CDEvents subject id.
    Update {
        #[arg(long)]
        org: String,
        service: String,
        #[arg(long = "alias")]
        aliases: Vec<String>,
        #[arg(long = "remove-alias")]
        remove_aliases: Vec<String>,
    },
    /// Prints the URL of every webhook dialect for a service, with a curl
    /// command to paste into a CI script (the token stays `$DORADO_TOKEN`).
    Urls {
        #[arg(long)]
        org: String,
        /// Id or name.
        service: String,
        /// Where the server is reached from the senders.
        #[arg(
            long,
            env = "DORADO_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        base_url: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Creates a source and shows its URL and secret, this once.
    Create {
        #[arg(long)]
        org: String,
        /// github, gitlab, pagerduty or cdevents.
        #[arg(long)]
        kind: String,
        /// Default: the kind (`github`, then `github-2`...).
        #[arg(long)]
        name: Option<String>,
        /// A GitHub workflow (GitLab pipeline) whose completed runs are
        /// deployments; repeat for several.
        #[arg(long = "deploy-workflow")]
        deploy_workflows: Vec<String>,
        /// Read the secret from stdin instead of making one: PagerDuty
        /// makes its own signing secret, to be given here.
        #[arg(long)]
        secret_stdin: bool,
    },
    /// Lists the sources, never their secrets.
    List {
        #[arg(long)]
        org: String,
    },
    /// A new secret; the old one is accepted for 24 hours more.
    Rotate {
        #[arg(long)]
        org: String,
        source: String,
        #[arg(long)]
        secret_stdin: bool,
    },
    /// Stops accepting the source's deliveries; what it sent stays.
    Delete {
        #[arg(long)]
        org: String,
        source: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a token and shows its secret this once.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: ingest, read, admin.
        #[arg(long, default_value = "ingest,read")]
        scopes: String,
        /// E.g. 90d, 12h; no expiry by default.
        #[arg(long)]
        expires_in: Option<String>,
        /// Limit the token to one service (id or name).
        #[arg(long)]
        service: Option<String>,
    },
    /// Lists tokens (never their secrets).
    List {
        #[arg(long)]
        org: String,
    },
    /// Revokes a token.
    Revoke {
        #[arg(long)]
        org: String,
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Creates a user; reads the password from stdin.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// May manage services, tokens and users in the web pages.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Drives a server with concurrent POSTs of deployments and prints
    /// requests per second and latency percentiles.
    Ingest(BenchIngestArgs),
    /// Generates a year of history of a large organization, loads it with
    /// `dorado import` and times the DORA figures of the real server.
    History(BenchHistoryArgs),
}

#[derive(Debug, Args)]
pub struct BenchHistoryArgs {
    /// Services of the organization.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub services: u32,
    /// Days of history, ending at the start of 2025-01-01 (UTC).
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3_650))]
    pub days: u32,
    /// Seed of the generator: the same seed gives the same history.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// An empty database to load (postgres://... or sqlite://...); a fresh
    /// temporary SQLite file by default.
    #[arg(long)]
    pub target_database: Option<String>,
    /// Keep the generated JSON lines in this file (removed otherwise).
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchIngestArgs {
    /// A running server; without it, one is started in this process on a
    /// fresh database (see --target-database).
    #[arg(long)]
    pub url: Option<String>,
    /// The organization to write to (with --url).
    #[arg(long)]
    pub org: Option<String>,
    /// The service the deployments name (with --url).
    #[arg(long)]
    pub service: Option<String>,
    /// A token with the ingest scope (with --url).
    #[arg(long, env = "DORADO_TOKEN")]
    pub token: Option<String>,
    /// The database of the in-process server: a fresh temporary SQLite
    /// file by default, or a postgres:// URL of an empty database.
    #[arg(long)]
    pub target_database: Option<String>,
    /// Senders posting at the same time.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Requests in all.
    #[arg(long, default_value_t = 5000)]
    pub requests: usize,
}

/// A size in bytes as people write it: `1048576`, `1MiB`, `32MB`, `500 KB`.
fn parse_size(text: &str) -> Result<usize, String> {
    let size: bytesize::ByteSize = text
        .trim()
        .parse()
        .map_err(|e| format!("'{text}' is not a size such as 1048576, 1MiB or 32MB: {e}"))?;
    usize::try_from(size.as_u64())
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{text}' must be more than 0 bytes"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_size("32MB"), Ok(32_000_000));
        assert_eq!(parse_size(" 1 KiB "), Ok(1024));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
    }
}
