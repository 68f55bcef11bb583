//! One batch of the writer, in its transaction: the idempotency keys looked
//! up at once, the requests planned together (`crate::plan`), the
//! delivery log and the rows written with a few multi-row statements, one
//! version bump per organization.

use super::{Answer, Work};
use crate::apply::{ApplyCtx, ServiceCache, apply_all};
use crate::db::sha256_hex;
use crate::deliveries::{self, Earlier, Logged};
use crate::plan::sql::{LOOKUP, Val, fetch, next_id, push_list, reserve_ids};
use crate::plan::{self, Unit};
use crate::versions::{self, Touched};
use crate::{Backend, Ingested, NewDelivery, Outcome, StoreError};
use dorado_core::{Command, DeliveryId, OrgId, Timestamp};
use sqlx::{Acquire, AnyConnection, Row};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Writes the batch; each work's answer, in order. `Err` fails the whole
/// batch (nothing of it may be committed).
pub(super) async fn write(
    conn: &mut AnyConnection,
    backend: Backend,
    services: &mut ServiceCache,
    works: &[Work],
) -> Result<Vec<Answer>, StoreError> {
    let mut answers: Vec<Option<Answer>> = works.iter().map(|_| None).collect();
    let invalid = invalid_tokens(conn, backend, works).await?;
    for (work, answer) in works.iter().zip(&mut answers) {
        if let Work::Ingest(d, _) = work
            && d.token_id.is_some_and(|t| invalid.contains(&t.0))
        {
            *answer = Some(Err(StoreError::Unauthorized));
        }
    }
    let mut touched: BTreeMap<OrgId, Touched> = BTreeMap::new();
    let mut start = 0;
    while start < works.len() {
        if answers[start].is_some() {
            start += 1;
            continue;
        }
        if let Work::Ingest(delivery, commands) = &works[start]
            && !plan::plans(commands)
        {
            answers[start] = Some(one_by_one(conn, backend, services, delivery, commands).await?);
            start += 1;
            continue;
        }
        let end = segment_end(works, start);
        let segment = Segment {
            works: &works[start..end],
            answers: &mut answers[start..end],
        };
        segment.write(conn, backend, services, &mut touched).await?;
        start = end;
    }
    for (org, touched) in &touched {
        if !touched.is_empty() {
            versions::bump(conn, *org, touched).await?;
        }
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(unanswered())))
        .collect())
}

fn unanswered() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol("a write was left unanswered".into()))
}

/// Where the planned run that begins at `start` ends: before a pipeline's
/// request (those go one by one), or before an idempotency key the run
/// already holds, so that the repeat is looked up after the first is
/// written, exactly as if they had come in separate batches.
fn segment_end(works: &[Work], start: usize) -> usize {
    let mut keys = HashSet::new();
    for (i, work) in works.iter().enumerate().skip(start) {
        if let Work::Ingest(d, commands) = work {
            if !plan::plans(commands) {
                return i;
            }
            if let Some(key) = &d.idempotency_key
                && !keys.insert((d.org_id, key.as_str()))
            {
                return i;
            }
        }
    }
    works.len()
}

struct Segment<'w, 'a> {
    works: &'w [Work],
    answers: &'a mut [Option<Answer>],
}

impl Segment<'_, '_> {
    async fn write(
        self,
        conn: &mut AnyConnection,
        backend: Backend,
        services: &mut ServiceCache,
        touched: &mut BTreeMap<OrgId, Touched>,
    ) -> Result<(), StoreError> {
        let earlier = earlier_by_key(conn, backend, self.works).await?;
        // Deliveries are numbered once it is known which are logged
        // (a refused request is logged later, by its caller): until then
        // each has a provisional id, -1 for the first.
        let mut logged: Vec<Option<Logged>> = Vec::with_capacity(self.works.len());
        let mut units = Vec::new();
        let mut unit_of = Vec::new();
        for (i, work) in self.works.iter().enumerate() {
            if self.answers[i].is_some() {
                logged.push(None);
                continue;
            }
            let delivery = match work {
                Work::Ingest(d, _) | Work::Refused(d, _, _) => d,
            };
            let sha = sha256_hex(delivery.body.as_bytes());
            if let Work::Ingest(d, _) = work
                && let Some(key) = &d.idempotency_key
                && let Some(earlier) = earlier.get(&(d.org_id, key.clone()))
            {
                self.answers[i] = Some(replay(key, &sha, earlier).map(Some));
                logged.push(None);
                continue;
            }
            let id = DeliveryId(-(i as i64) - 1);
            let (status, error) = match work {
                Work::Refused(_, status, reason) => {
                    self.answers[i] = Some(Ok(None));
                    (*status, Some(reason.as_str()))
                }
                Work::Ingest(d, commands) => {
                    units.push(Unit {
                        org: d.org_id,
                        delivery: id,
                        received_at: d.received_at,
                        commands,
                    });
                    unit_of.push(i);
                    (200, None)
                }
            };
            logged.push(Some(Logged {
                id,
                delivery,
                body_sha256: sha,
                status,
                error,
                outcome: None,
            }));
        }

        let mut planned = plan::plan(conn, backend, services, None, &units).await?;
        for ((&i, result), unit) in unit_of.iter().zip(planned.results.drain(..)).zip(&units) {
            let Work::Ingest(d, commands) = &self.works[i] else {
                continue;
            };
            let written = match result {
                Ok(written) => written,
                // Refused alone: its request logs it as refused, with the
                // status it is answered with.
                Err(e) => {
                    logged[i] = None;
                    self.answers[i] = Some(Err(e));
                    continue;
                }
            };
            let outcome = Outcome {
                written,
                ignored: d.ignored.as_ref().map(|i| i.reason.clone()),
            };
            let t = touched.entry(d.org_id).or_default();
            for (command, written) in commands.iter().zip(&outcome.written) {
                t.record(command, written);
            }
            if let Some(log) = logged[i].as_mut() {
                log.status = if outcome.created() {
                    d.created_status
                } else {
                    200
                };
                log.outcome = Some(
                    serde_json::to_string(&outcome)
                        .map_err(|e| crate::db::corrupt(format!("outcome: {e}")))?,
                );
            }
            self.answers[i] = Some(Ok(Some(Ingested {
                delivery_id: unit.delivery,
                replayed: false,
                outcome,
            })));
        }

        let count = logged.iter().flatten().count();
        let mut reserved = reserve_ids(conn, backend, "deliveries", count)
            .await?
            .into_iter();
        let mut real = vec![0; self.works.len()];
        for (i, log) in logged.iter_mut().enumerate() {
            if let Some(log) = log {
                real[i] = next_id(&mut reserved)?;
                log.id = DeliveryId(real[i]);
            }
        }
        let real = |provisional: i64| {
            usize::try_from(-provisional - 1)
                .ok()
                .and_then(|i| real.get(i).copied())
                .unwrap_or(provisional)
        };
        planned.assign_deliveries(&real);
        for answer in self.answers.iter_mut().flatten() {
            if let Ok(Some(ingested)) = answer
                && !ingested.replayed
            {
                ingested.delivery_id = DeliveryId(real(ingested.delivery_id.0));
            }
        }
        let logged: Vec<Logged> = logged.into_iter().flatten().collect();
        deliveries::insert_many(conn, backend, &logged).await?;
        planned.store(conn, backend).await
    }
}

/// The tokens of the batch's requests that were revoked or expired since
/// they were authenticated (by this instance's cache, perhaps, which
/// learns of another's revocation only within its poll).
async fn invalid_tokens(
    conn: &mut AnyConnection,
    backend: Backend,
    works: &[Work],
) -> Result<HashSet<i64>, StoreError> {
    let tokens: HashSet<i64> = works
        .iter()
        .filter_map(|w| match w {
            Work::Ingest(d, _) => d.token_id.map(|t| t.0),
            Work::Refused(..) => None,
        })
        .collect();
    let mut invalid = HashSet::new();
    let tokens: Vec<Val> = tokens.into_iter().map(|t| Val::Int(Some(t))).collect();
    let now = Timestamp::now().millis();
    for part in tokens.chunks(LOOKUP) {
        let mut sql = String::from(
            "SELECT id FROM tokens WHERE (revoked_at IS NOT NULL OR expires_at <= ?) AND id IN (",
        );
        push_list(&mut sql, part.len());
        sql.push(')');
        let mut values = vec![Val::Int(Some(now))];
        values.extend(part.iter().cloned());
        for row in fetch(conn, backend, &sql, &values).await? {
            invalid.insert(row.try_get::<i64, _>(0)?);
        }
    }
    Ok(invalid)
}

/// The answer to a request whose idempotency key an accepted one used.
fn replay(key: &str, sha: &str, earlier: &Earlier) -> Result<Ingested, StoreError> {
    if earlier.body_sha256 != sha {
        return Err(StoreError::Conflict(format!(
            "Idempotency-Key '{key}' was used with another body"
        )));
    }
    Ok(Ingested {
        delivery_id: earlier.id,
        replayed: true,
        outcome: earlier.outcome.clone(),
    })
}

/// The accepted deliveries the segment's idempotency keys name.
async fn earlier_by_key(
    conn: &mut AnyConnection,
    backend: Backend,
    works: &[Work],
) -> Result<HashMap<(OrgId, String), Earlier>, StoreError> {
    let mut keys: BTreeMap<OrgId, Vec<&str>> = BTreeMap::new();
    for work in works {
        if let Work::Ingest(d, _) = work
            && let Some(key) = &d.idempotency_key
        {
            keys.entry(d.org_id).or_default().push(key);
        }
    }
    let mut found = HashMap::new();
    for (org, keys) in keys {
        for (key, earlier) in deliveries::find_accepted_by_keys(conn, backend, org, &keys).await? {
            found.insert((org, key), earlier);
        }
    }
    Ok(found)
}

/// A pipeline's request: its commands one after the other, in a savepoint
/// of their own, so that its refusal undoes only it.
async fn one_by_one(
    conn: &mut AnyConnection,
    backend: Backend,
    services: &mut ServiceCache,
    delivery: &NewDelivery,
    commands: &[Command],
) -> Result<Answer, StoreError> {
    let mut savepoint = conn.begin().await?;
    let result = ingest(&mut savepoint, backend, services, delivery, commands).await;
    match result {
        Ok(ingested) => {
            savepoint.commit().await?;
            Ok(Ok(Some(ingested)))
        }
        // What the database itself failed at fails the batch.
        Err(e @ StoreError::Database(_)) => Err(e),
        Err(e) => {
            savepoint.rollback().await?;
            Ok(Err(e))
        }
    }
}

async fn ingest(
    conn: &mut AnyConnection,
    backend: Backend,
    services: &mut ServiceCache,
    delivery: &NewDelivery,
    commands: &[Command],
) -> Result<Ingested, StoreError> {
    let body_sha256 = sha256_hex(delivery.body.as_bytes());
    if let Some(key) = &delivery.idempotency_key
        && let Some(earlier) = deliveries::find_accepted_by_key(conn, delivery.org_id, key).await?
    {
        return replay(key, &body_sha256, &earlier);
    }
    let id = deliveries::insert(conn, delivery, &body_sha256, 200, None).await?;
    let mut ctx = ApplyCtx::new(backend, delivery.org_id, id, delivery.received_at, services);
    let mut outcome = apply_all(conn, &mut ctx, commands).await?;
    outcome.ignored = delivery.ignored.as_ref().map(|i| i.reason.clone());
    let status = if outcome.created() {
        delivery.created_status
    } else {
        200
    };
    deliveries::set_outcome(conn, id, &outcome, status).await?;
    let mut touched = Touched::default();
    for (command, written) in commands.iter().zip(&outcome.written) {
        touched.record(command, written);
    }
    versions::bump(conn, delivery.org_id, &touched).await?;
    Ok(Ingested {
        delivery_id: id,
        replayed: false,
        outcome,
    })
}
