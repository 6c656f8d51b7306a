//! The audit trail's vocabulary and who reads it. Pure.
//!
//! | action | who reads it |
//! | --- | --- |
//! | an organisation's trail (its members and keys) | admin; an active administrator of the organisation |
//! | the installation's trail (admins, made and changed) | admin |

use super::access::{Denied, Principal};
use super::ids::OrganisationId;
use super::members::{may_manage_members, MemberFacts};

string_enum! {
    /// What happened.
    AuditAction {
        /// A member was invited (through the API).
        MemberInvited => "member_invited",
        /// A member was added on the command line, active at once.
        MemberAdded => "member_added",
        /// A member's role or administrator flag changed.
        MemberChanged => "member_changed",
        MemberDisabled => "member_disabled",
        MemberEnabled => "member_enabled",
        ApiKeyCreated => "api_key_created",
        /// A key's first use on a day (later uses that day are not recorded).
        ApiKeyUsed => "api_key_used",
        ApiKeyRevoked => "api_key_revoked",
        /// A member signed in through a browser.
        SignedIn => "signed_in",
        /// A sign-in refused (a disabled member).
        SignInFailed => "sign_in_failed",
        /// A member signed out (of one session, or everywhere).
        SignedOut => "signed_out",
    }
}

/// Whose trail a reader asks for: one organisation's, or (admins only) every one's.
pub fn may_read_trail(
    caller: &Principal,
    caller_member: Option<&MemberFacts>,
    organisation: Option<&OrganisationId>,
) -> Result<(), Denied> {
    match organisation {
        _ if caller.is_admin() => Ok(()),
        Some(organisation) => may_manage_members(caller, caller_member, organisation)
            .map_err(|_| Denied("only an admin or the organisation's administrators read its audit trail".into())),
        None => Err(Denied(
            "name your organisation (organisation_id): only an admin reads every organisation's trail".into(),
        )),
    }
}
