//! Dates: an asset's four date objects, written as RFC 3339 local time with an offset.

use super::principals::{FIRST_USER, ROOT_USER, SYSTEM_ADMIN, USERS};
use super::sink::{push_pid, pushf};
use crate::rng::Rng;

/// 2012-01-01T00:00:00Z.
const EPOCH_2012: i64 = 1_325_376_000;

/// A time zone family for an asset's dates.
#[derive(Clone, Copy)]
enum Zone {
    /// +10:00, or +11:00 from October to March (roughly Sydney).
    Sydney,
    Utc,
    /// −05:00.
    NewYork,
}

/// The four date objects: (seconds since the epoch, user id) or none.
pub(super) struct Dates {
    zone: Zone,
    created: (i64, u64),
    updated: (i64, u64),
    published: Option<(i64, u64)>,
    status_changed: (i64, u64),
}

impl Dates {
    pub(super) fn roll(r: &mut Rng, status: u16) -> Self {
        let zone = match r.below(100) {
            0..=95 => Zone::Sydney,
            96..=98 => Zone::Utc,
            _ => Zone::NewYork,
        };
        let author = |r: &mut Rng| match r.below(100) {
            0..=84 => FIRST_USER + r.below(USERS),
            85..=94 => ROOT_USER,
            _ => SYSTEM_ADMIN,
        };
        let created = EPOCH_2012 + r.below(410_000_000) as i64;
        let updated = created + r.below(63_072_000) as i64;
        let (by, editor) = (author(r), author(r));
        // "Published" only for assets that are or were live (status ≥ 16).
        let published = (status >= 16).then(|| (updated + r.below(259_200) as i64, editor));
        let changed = published.map_or(updated, |p| p.0)
            + if status > 16 {
                r.below(1_000_000) as i64
            } else {
                0
            };
        Dates {
            zone,
            created: (created, by),
            updated: (updated, editor),
            published,
            status_changed: (changed, editor),
        }
    }

    pub(super) fn write(&self, buf: &mut Vec<u8>) {
        let one = |buf: &mut Vec<u8>, key: &str, v: Option<(i64, u64)>| {
            pushf(buf, format_args!(",\"{key}\":"));
            match v {
                Some((secs, user)) => {
                    buf.extend_from_slice(b"{\"date\":\"");
                    push_rfc3339(buf, secs, self.zone);
                    buf.extend_from_slice(b"\",\"user_id\":");
                    push_pid(buf, user);
                    buf.push(b'}');
                }
                None => buf.extend_from_slice(b"{\"date\":null,\"user_id\":null}"),
            }
        };
        one(buf, "created", Some(self.created));
        one(buf, "updated", Some(self.updated));
        one(buf, "published", self.published);
        one(buf, "status_changed", Some(self.status_changed));
    }
}

/// Appends `secs` (Unix time) as RFC 3339 local time with a numeric offset.
fn push_rfc3339(buf: &mut Vec<u8>, secs: i64, zone: Zone) {
    let offset_min: i64 = match zone {
        Zone::Sydney => {
            let (_, month, _) = civil_from_days(secs.div_euclid(86_400));
            if (4..=9).contains(&month) {
                600
            } else {
                660
            }
        }
        Zone::Utc => 0,
        Zone::NewYork => -300,
    };
    let local = secs + offset_min * 60;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let sod = local.rem_euclid(86_400);
    let sign = if offset_min < 0 { '-' } else { '+' };
    let off = offset_min.abs();
    pushf(
        buf,
        format_args!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60,
            off / 60,
            off % 60
        ),
    );
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn dates_match_the_time_crate() {
        let mut r = Rng::new(7);
        for _ in 0..2000 {
            let secs = EPOCH_2012 + r.below(2_000_000_000) as i64 - 1_000_000_000;
            for zone in [Zone::Sydney, Zone::Utc, Zone::NewYork] {
                let mut buf = Vec::new();
                push_rfc3339(&mut buf, secs, zone);
                let text = String::from_utf8(buf).unwrap();
                let t = time::OffsetDateTime::parse(
                    &text,
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                assert_eq!(t.unix_timestamp(), secs, "{text}");
            }
        }
    }
}
