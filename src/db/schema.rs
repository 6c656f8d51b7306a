// One schema for both backends; the SQL in migrations/sqlite and migrations/postgres must agree
// with it (the integration tests run every query on both).

diesel::table! {
    organisations (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        identifier -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    organisation_area_codes (organisation_id, area_code) {
        organisation_id -> Text,
        area_code -> Text,
    }
}

diesel::table! {
    organisation_billing_emails (organisation_id, email) {
        organisation_id -> Text,
        email -> Text,
    }
}

diesel::table! {
    funds (id) {
        id -> Text,
        name -> Text,
        owner_organisation_id -> Text,
        currency -> Text,
        budget_minor -> BigInt,
        service_start -> Date,
        service_end -> Date,
        created_at -> Timestamp,
    }
}

diesel::table! {
    projects (id) {
        id -> Text,
        name -> Text,
        fund_id -> Nullable<Text>,
        provider_organisation_id -> Text,
        currency -> Text,
        service_start -> Date,
        service_end -> Date,
        referral_cutoff -> Nullable<Date>,
        max_outcome_payment_minor -> Nullable<BigInt>,
        participant_cap_minor -> Nullable<BigInt>,
        cap_policy -> Text,
        settlement_route -> Text,
        settlement_frequency -> Text,
        policy_sector -> Nullable<Text>,
        target_population -> Nullable<Text>,
        stage_development -> Nullable<Text>,
        published -> Bool,
        created_at -> Timestamp,
        payment_terms_days -> Integer,
        social_challenge -> Nullable<Text>,
    }
}

diesel::table! {
    project_payers (id) {
        id -> Text,
        project_id -> Text,
        position -> Integer,
        organisation_id -> Text,
        role -> Text,
        max_commitment_minor -> BigInt,
        share -> Nullable<Text>,
        lead -> Bool,
        fund_id -> Nullable<Text>,
        commitment -> Text,
    }
}

diesel::table! {
    payer_phases (payer_id, starts_on) {
        payer_id -> Text,
        starts_on -> Date,
        ends_on -> Date,
        share -> Text,
    }
}

diesel::table! {
    payer_home_areas (payer_id, area_code) {
        payer_id -> Text,
        area_code -> Text,
    }
}

diesel::table! {
    project_validators (project_id, organisation_id) {
        project_id -> Text,
        organisation_id -> Text,
    }
}

diesel::table! {
    outcome_metrics (id) {
        id -> Text,
        project_id -> Text,
        position -> Integer,
        code -> Text,
        name -> Text,
        price_minor -> BigInt,
        unit -> Text,
        max_units_per_participant -> Nullable<Integer>,
        max_claims_per_participant -> Integer,
        exclusive_group -> Nullable<Text>,
        requires_outcome_code -> Nullable<Text>,
        requires_min_days_after -> Nullable<Integer>,
        volume_cap -> Nullable<Integer>,
        deadweight -> Nullable<Text>,
        min_age_at_start -> Nullable<Integer>,
        max_age_at_start -> Nullable<Integer>,
    }
}

diesel::table! {
    idempotency_keys (principal, idempotency_key) {
        principal -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        response_status -> Integer,
        response_body -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(organisation_area_codes -> organisations (organisation_id));
diesel::joinable!(organisation_billing_emails -> organisations (organisation_id));
diesel::joinable!(funds -> organisations (owner_organisation_id));
diesel::joinable!(projects -> funds (fund_id));
diesel::joinable!(project_payers -> projects (project_id));
diesel::joinable!(payer_phases -> project_payers (payer_id));
diesel::joinable!(payer_home_areas -> project_payers (payer_id));
diesel::joinable!(outcome_metrics -> projects (project_id));

diesel::table! {
    bulk_uploads (id) {
        id -> Text,
        project_id -> Text,
        submitted_by -> Text,
        mode -> Text,
        rows_total -> Integer,
        rows_accepted -> Integer,
        rows_rejected -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    claims (id) {
        id -> Text,
        project_id -> Text,
        outcome_id -> Text,
        outcome_code -> Text,
        participant_pseudonym -> Text,
        achieved_on -> Date,
        period_start -> Date,
        quantity -> Integer,
        evidence_ref -> Nullable<Text>,
        home_area -> Nullable<Text>,
        age_at_start -> Nullable<Integer>,
        referred_on -> Nullable<Date>,
        upload_id -> Nullable<Text>,
        status -> Text,
        submitted_by -> Text,
        submitted_by_organisation_id -> Text,
        submitted_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        rejection_reason -> Nullable<Text>,
        revoked_by -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        revocation_reason -> Nullable<Text>,
        gross_minor -> Nullable<BigInt>,
        payable_minor -> Nullable<BigInt>,
        paid_units -> Nullable<Integer>,
        entry_id -> Nullable<Text>,
    }
}

diesel::table! {
    claim_adjustments (claim_id, position) {
        claim_id -> Text,
        position -> Integer,
        kind -> Text,
        amount_minor -> BigInt,
        detail -> Text,
    }
}

diesel::table! {
    allocations (id) {
        id -> BigInt,
        entry_id -> Text,
        claim_id -> Text,
        project_id -> Text,
        payer_id -> Text,
        payer_organisation_id -> Text,
        amount_minor -> BigInt,
        shortfall_minor -> BigInt,
        achieved_on -> Date,
        posted_at -> Timestamp,
        reverses_id -> Nullable<BigInt>,
        outcome_code -> Text,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Text,
        claim_id -> Text,
        project_id -> Text,
        provider_amount_minor -> BigInt,
        posted_at -> Timestamp,
        reverses_entry_id -> Nullable<Text>,
    }
}

diesel::table! {
    running_totals (project_id, name) {
        project_id -> Text,
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    settlement_documents (id) {
        id -> Text,
        project_id -> Text,
        kind -> Text,
        status -> Text,
        period -> Text,
        period_start -> Date,
        period_end -> Date,
        issuer_organisation_id -> Text,
        recipient_organisation_id -> Text,
        currency -> Text,
        total_minor -> BigInt,
        paid_minor -> BigInt,
        line_count -> Integer,
        number -> Nullable<Text>,
        issued_on -> Nullable<Date>,
        due_on -> Nullable<Date>,
        credits_document_id -> Nullable<Text>,
        void_reason -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    document_lines (document_id, position) {
        document_id -> Text,
        position -> Integer,
        claim_id -> Text,
        outcome_code -> Text,
        participant_pseudonym -> Text,
        achieved_on -> Date,
        posted_at -> Timestamp,
        amount_minor -> BigInt,
    }
}

diesel::table! {
    settlement_links (allocation_id, leg) {
        allocation_id -> BigInt,
        leg -> Text,
        document_id -> Text,
        line_position -> Integer,
    }
}

diesel::table! {
    document_payments (id) {
        id -> Text,
        document_id -> Text,
        amount_minor -> BigInt,
        paid_on -> Date,
        reference -> Text,
        recorded_by -> Text,
        recorded_by_organisation_id -> Nullable<Text>,
        recorded_at -> Timestamp,
        settled_by -> Text,
        counterpart_document_id -> Nullable<Text>,
    }
}

diesel::table! {
    document_events (id) {
        id -> BigInt,
        document_id -> Text,
        action -> Text,
        actor -> Text,
        actor_organisation_id -> Nullable<Text>,
        at -> Timestamp,
        detail -> Text,
    }
}

diesel::table! {
    document_sequences (issuer_organisation_id, year) {
        issuer_organisation_id -> Text,
        year -> Integer,
        last_number -> Integer,
    }
}

diesel::table! {
    payment_plans (project_id, quarter) {
        project_id -> Text,
        quarter -> Text,
        planned_minor -> BigInt,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        recipients -> Text,
        subject -> Text,
        body -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(claims -> projects (project_id));
diesel::joinable!(document_lines -> settlement_documents (document_id));
diesel::joinable!(document_payments -> settlement_documents (document_id));
diesel::joinable!(document_events -> settlement_documents (document_id));
diesel::joinable!(claim_adjustments -> claims (claim_id));
diesel::joinable!(allocations -> claims (claim_id));

diesel::allow_tables_to_appear_in_same_query!(
    organisations,
    organisation_area_codes,
    organisation_billing_emails,
    funds,
    projects,
    project_payers,
    payer_phases,
    payer_home_areas,
    project_validators,
    outcome_metrics,
    idempotency_keys,
    bulk_uploads,
    claims,
    claim_adjustments,
    allocations,
    ledger_entries,
    running_totals,
    settlement_documents,
    document_lines,
    settlement_links,
    document_payments,
    document_events,
    document_sequences,
    payment_plans,
    outbox,
);

diesel::table! {
    published_tables (id) {
        id -> Text,
        row_count -> BigInt,
        built_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    open_data_releases (version) {
        version -> Text,
        released_at -> Timestamp,
        released_by -> Text,
        manifest -> Text,
    }
}

diesel::table! {
    open_data_release_files (version, name) {
        version -> Text,
        name -> Text,
        media_type -> Text,
        sha256 -> Text,
        byte_count -> BigInt,
        content -> Binary,
    }
}

diesel::joinable!(open_data_release_files -> open_data_releases (version));
diesel::allow_tables_to_appear_in_same_query!(open_data_releases, open_data_release_files);

diesel::table! {
    open_data_frozen_quarters (project_id, period_start) {
        project_id -> Text,
        period_start -> Date,
        frozen_at -> Timestamp,
    }
}

diesel::table! {
    open_data_frozen_blocks (project_id, period_start, outcome_code) {
        project_id -> Text,
        period_start -> Date,
        outcome_code -> Text,
        achieved_units -> BigInt,
        achieved_participants -> BigInt,
        paid_units -> BigInt,
        paid_participants -> BigInt,
        payable_units -> BigInt,
        payable_minor -> BigInt,
        engaged -> BigInt,
        withheld -> Bool,
    }
}

diesel::table! {
    open_data_frozen_money (project_id, period_start, outcome_code, payer_organisation_id) {
        project_id -> Text,
        period_start -> Date,
        outcome_code -> Text,
        payer_organisation_id -> Text,
        amount_minor -> BigInt,
        participants -> BigInt,
        smallest_part_minor -> Nullable<BigInt>,
        largest_part_minor -> Nullable<BigInt>,
    }
}

diesel::table! {
    open_data_published_totals (project_id, payer_organisation_id, as_of) {
        project_id -> Text,
        payer_organisation_id -> Text,
        as_of -> Timestamp,
        amount_minor -> BigInt,
    }
}

diesel::table! {
    open_data_cap_states (project_id, cap, as_of) {
        project_id -> Text,
        cap -> Text,
        as_of -> Timestamp,
        bound -> Bool,
        beyond -> Integer,
    }
}

diesel::table! {
    open_data_adjustments (project_id, outcome_code, year) {
        project_id -> Text,
        outcome_code -> Text,
        year -> Integer,
        published_at -> Timestamp,
        achieved_units -> BigInt,
        paid_units -> BigInt,
        payable_units -> BigInt,
        payable_minor -> BigInt,
        money_shown -> Bool,
    }
}

diesel::table! {
    open_data_adjustment_rounds (project_id, year) {
        project_id -> Text,
        year -> Integer,
        held_at -> Timestamp,
    }
}

diesel::table! {
    open_data_adjustment_money (project_id, outcome_code, year, payer_organisation_id) {
        project_id -> Text,
        outcome_code -> Text,
        year -> Integer,
        payer_organisation_id -> Text,
        amount_minor -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    open_data_frozen_quarters,
    open_data_frozen_blocks,
    open_data_frozen_money,
    open_data_published_totals,
    open_data_cap_states,
    open_data_adjustments,
    open_data_adjustment_money,
    open_data_adjustment_rounds,
);

diesel::table! {
    registry_changes (id) {
        id -> Text,
        subject_id -> Text,
        field -> Text,
        old_value -> Nullable<Text>,
        new_value -> Nullable<Text>,
        changed_by -> Text,
        changed_by_organisation_id -> Nullable<Text>,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    commitment_events (id) {
        id -> Text,
        project_id -> Text,
        payer_id -> Text,
        status -> Text,
        decided_by -> Text,
        decided_by_organisation_id -> Nullable<Text>,
        decided_at -> Timestamp,
        reason -> Nullable<Text>,
        note -> Text,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        kind -> Text,
        project_id -> Text,
        subject -> Text,
        role -> Text,
        organisation_id -> Nullable<Text>,
        input -> Text,
        state -> Text,
        rows_total -> BigInt,
        rows_done -> BigInt,
        attempts -> Integer,
        lease_until -> Nullable<Timestamp>,
        result -> Nullable<Text>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    members (id) {
        id -> Text,
        organisation_id -> Nullable<Text>,
        role -> Text,
        administers -> Bool,
        display_name -> Text,
        email -> Text,
        status -> Text,
        oidc_issuer -> Nullable<Text>,
        oidc_subject -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        organisation_id -> Text,
        role -> Text,
        name -> Text,
        prefix -> Text,
        secret_sha256 -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_used_on -> Nullable<Date>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::joinable!(api_keys -> members (created_by));
diesel::allow_tables_to_appear_in_same_query!(api_keys, members, organisations);

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> Timestamp,
        actor -> Text,
        actor_organisation_id -> Nullable<Text>,
        organisation_id -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        detail -> Text,
        address -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id_sha256) {
        id_sha256 -> Text,
        member_id -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        address -> Nullable<Text>,
    }
}

diesel::joinable!(sessions -> members (member_id));
diesel::allow_tables_to_appear_in_same_query!(sessions, members);
diesel::allow_tables_to_appear_in_same_query!(sessions, organisations);
