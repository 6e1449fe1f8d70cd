//! The [`Store`](crate::ports::Store) conformance suite: every repository's contract (ports/storage.rs), cascades and
//! concurrent writes. Cases are split by concept over several files and all re-exported here.

use crate::StoreError;
use crate::ports::{PortResult, is_conflict};

pub use super::storage_accounts::*;
pub use super::storage_admin::*;
pub use super::storage_channels::*;
pub use super::storage_discovery::*;
pub use super::storage_guilds::*;
pub use super::storage_invites::*;
pub use super::storage_messages::*;
pub use super::storage_oauth2::*;
pub use super::storage_packs::*;
pub use super::storage_reactions::*;
pub use super::storage_reports::*;
pub use super::storage_sso::*;
pub use super::storage_webauthn::*;

/// Generates one test per [`Store`](crate::ports::Store) case. The argument builds a fresh, empty `Arc<dyn Store>` (an
/// `async` block is awaited); see [`crate::testing`].
#[macro_export]
macro_rules! storage_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(storage, storage_conformance, [$($factory)+], [
            users_create_and_get,
            users_find_by_email_and_tag,
            users_email_and_tag_conflict_on_create,
            users_update_reindexes_email_and_tag,
            users_email_and_tag_conflict_on_update,
            users_update_missing_is_not_found,
            sessions_create_get_and_touch,
            sessions_listed_oldest_first_and_deleted,
            sessions_idle_are_deleted,
            users_pending_deletion_are_listed_oldest_first,
            action_token_is_taken_once,
            action_token_checks_kind_and_expiry,
            guild_create_stores_roles_channels_and_owner,
            guild_create_with_taken_vanity_leaves_nothing_behind,
            guild_vanity_conflicts_and_lookup,
            guild_update_and_get_guilds,
            guild_delete_cascades,
            audit_log_filters_pages_and_expires,
            expressions_by_guild_and_kind_and_cascade,
            reports_kept_listed_newest_first_and_by_status,
            packs_put_get_list_and_delete_with_what_they_own,
            invites_to_packs_have_no_channel,
            pack_installations_are_private_documents,
            scan_walks_every_id_in_order,
            tally_counts_rows_and_id_ranges,
            channels_create_get_update,
            channels_listed_by_position_then_id,
            channels_update_many_is_atomic,
            dm_channel_found_in_either_order,
            private_channels_listed_for_recipients,
            channel_delete_cascades,
            messages_latest_page,
            messages_before_page,
            messages_after_page,
            messages_around_page,
            messages_pages_around_a_missing_cursor,
            messages_empty_channel,
            history_pages_match_their_pieces,
            message_insert_advances_last_message_id,
            message_followups_are_claimed_leased_and_cleared,
            message_followups_concurrent_claims_are_disjoint,
            message_push_followups_wait_for_a_subscriber,
            messages_read_by_ids_in_their_channel_only,
            message_update_replaces,
            message_delete_removes_it_and_its_reactions,
            messages_bulk_delete_returns_only_deleted,
            pins_listed_most_recent_first,
            reactions_add_is_idempotent,
            reaction_counts_per_viewer_in_first_reacted_order,
            reaction_users_ascending_with_cursor,
            reactions_removed_one_emoji_or_all,
            messages_concurrent_inserts_one_channel,
            messages_concurrent_inserts_several_channels,
            reactions_concurrent_adds,
            members_add_get_and_conflict,
            members_listed_and_counted,
            members_update_and_remove,
            roles_listed_by_position_then_id,
            roles_update_many_is_atomic,
            role_delete_takes_it_off_members,
            access_reads_match_their_pieces,
            access_reads_follow_writes,
            invites_create_get_list_delete,
            invite_use_counts_and_refuses,
            invite_use_is_atomic,
            invites_expired_are_deleted,
            bans_put_replaces_and_list_paginates,
            webhooks_crud_and_lists,
            applications_crud_and_list,
            oauth2_tokens_read_back_by_kind_until_expiry,
            oauth2_token_is_taken_once,
            oauth2_grants_listed_and_revoked,
            sso_identities_link_and_find,
            sso_identity_links_once,
            sso_identities_deleted_with_their_user,
            discovery_applications_put_get_replace_delete,
            discovery_applications_listed_by_status_in_pages,
            discovery_application_deleted_with_its_guild,
            webauthn_credentials_create_list_rename_delete,
            webauthn_use_is_recorded_only_when_the_counter_rises,
            webauthn_use_with_one_counter_is_recorded_once,
            read_states_put_get_list,
            private_documents_listed_for_several_users,
            private_documents_put_get_list_delete,
            read_state_mentions_are_added,
            relationships_are_one_sided,
            admin_audit_log_filters_orders_and_pages,
            admin_audit_log_text_search,
            instance_documents_are_kept_apart,
        ]);
    };
}

pub(super) fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Asserts that a write failed with [`StoreError::NotFound`].
#[track_caller]
pub(super) fn assert_not_found<T: std::fmt::Debug>(result: PortResult<T>) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Asserts that a write failed with the conflict `name`.
#[track_caller]
pub(super) fn assert_conflict<T: std::fmt::Debug>(result: PortResult<T>, name: &str) {
    match result {
        Err(e) if is_conflict(&e, name) => {}
        other => panic!("expected the {name} conflict, got {other:?}"),
    }
}
