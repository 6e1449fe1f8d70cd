//! Conformance cases for reports filed with the instance's staff.

use std::sync::Arc;

use crate::id::{ReportId, UserId};
use crate::model::{LegalHold, Report, ReportKind, ReportStatus};
use crate::ports::Store;

use super::fixtures::{Fixtures, T0};

fn report(fx: &Fixtures, reporter: UserId, kind: ReportKind) -> Report {
    Report {
        id: ReportId(fx.snowflake()),
        reporter_id: Some(reporter),
        reporter_email: None,
        reporter_full_legal_name: None,
        reporter_country_of_residence: None,
        reported_at: T0,
        status: ReportStatus::Pending,
        kind,
        category: "spam".to_owned(),
        additional_info: Some("it keeps happening".to_owned()),
        reported_user_id: Some(UserId(fx.snowflake())),
        reported_guild_id: None,
        reported_guild_name: None,
        reported_message_id: None,
        reported_channel_id: None,
        reported_channel_name: None,
        reported_guild_invite_code: None,
        message_context: Vec::new(),
        resolved_at: None,
        resolved_by: None,
        public_comment: None,
        legal_hold: None,
    }
}

/// Reports: put replaces (resolving one), get by ID, listed newest first with a cursor and an
/// optional status filter; a message report keeps its copies of the messages.
pub async fn reports_kept_listed_newest_first_and_by_status(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let reporter = fx.make_user();
    let guild = fx.make_guild(reporter.id);
    let channel = &guild.channels[0];
    let mut made = [
        report(&fx, reporter.id, ReportKind::User),
        report(&fx, reporter.id, ReportKind::Message),
        report(&fx, reporter.id, ReportKind::Guild),
        report(&fx, reporter.id, ReportKind::User),
    ];
    made[1].message_context = vec![
        fx.make_message(channel, reporter.id),
        fx.make_message(channel, reporter.id),
    ];
    for r in made.iter().rev() {
        store.put_report(r).await.unwrap();
    }
    assert_eq!(
        store.get_report(made[1].id).await.unwrap(),
        Some(made[1].clone())
    );
    assert_eq!(
        store.get_report(ReportId(fx.snowflake())).await.unwrap(),
        None
    );

    let ids = |rs: Vec<Report>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = store.list_reports(None, None, 10).await.unwrap();
    assert_eq!(ids(all), [made[3].id, made[2].id, made[1].id, made[0].id]);
    let page = store.list_reports(None, Some(made[2].id), 1).await.unwrap();
    assert_eq!(ids(page), [made[1].id]);

    let mut resolved = made[2].clone();
    resolved.status = ReportStatus::Resolved;
    resolved.reporter_id = None;
    resolved.reporter_email = Some("notice@example.com".to_owned());
    resolved.reporter_country_of_residence = Some("DE".to_owned());
    resolved.resolved_by = Some(reporter.id);
    resolved.resolved_at = Some(T0.plus_ms(1000));
    resolved.public_comment = Some("thanks".to_owned());
    resolved.legal_hold = Some(LegalHold {
        held_by: reporter.id,
        held_since: T0.plus_ms(500),
        held_until: Some(T0.plus_ms(86_400_000)),
    });
    store.put_report(&resolved).await.unwrap();
    assert_eq!(
        store.get_report(resolved.id).await.unwrap(),
        Some(resolved.clone())
    );
    let pending = store
        .list_reports(Some(ReportStatus::Pending), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(pending), [made[3].id, made[1].id, made[0].id]);
    let done = store
        .list_reports(Some(ReportStatus::Resolved), None, 10)
        .await
        .unwrap();
    assert_eq!(done, [resolved]);
    assert!(
        store
            .list_reports(Some(ReportStatus::Pending), Some(made[0].id), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
