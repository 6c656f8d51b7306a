-- Members: the people who act in cofund, each in one organisation with one role (an admin
-- belongs to none). `administers` marks those who manage their organisation's members. The
-- email is personal data, kept lower-cased so that an invitation matches however it is typed;
-- the identity provider's (issuer, subject) is bound at the first sign-in.
CREATE TABLE members (
    id               TEXT PRIMARY KEY,
    organisation_id  TEXT REFERENCES organisations(id),
    role             TEXT NOT NULL,
    administers      BOOLEAN NOT NULL DEFAULT FALSE,
    display_name     TEXT NOT NULL,
    email            TEXT NOT NULL,
    status           TEXT NOT NULL,                -- invited, active, disabled
    oidc_issuer      TEXT,
    oidc_subject     TEXT,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
-- One membership per person and organisation (admins: one per email).
CREATE UNIQUE INDEX members_email_idx ON members(COALESCE(organisation_id, ''), email);
CREATE UNIQUE INDEX members_identity_idx ON members(oidc_issuer, oidc_subject)
    WHERE oidc_subject IS NOT NULL;
CREATE INDEX members_organisation_idx ON members(organisation_id, id);

-- API keys: the programs of an organisation (a provider's case-management system, a council's
-- finance system). Only the SHA-256 of the key is stored; the key itself is shown once.
CREATE TABLE api_keys (
    id               TEXT PRIMARY KEY,
    organisation_id  TEXT NOT NULL REFERENCES organisations(id),
    role             TEXT NOT NULL,
    name             TEXT NOT NULL,
    prefix           TEXT NOT NULL,                -- the key's first characters, to recognise it
    secret_sha256    TEXT NOT NULL UNIQUE,
    created_by       TEXT NOT NULL REFERENCES members(id),
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    last_used_on     DATE,
    revoked_at       TIMESTAMP,
    revoked_by       TEXT
);
CREATE INDEX api_keys_organisation_idx ON api_keys(organisation_id, id);

-- The audit trail: who did what to members and keys, when and from which address. Nothing
-- secret is kept in it (no key, no token, no session id). `organisation_id` is the
-- organisation whose trail it is (null: the installation's, for admins alone).
CREATE TABLE audit_events (
    id                     TEXT PRIMARY KEY,
    at                     TIMESTAMP NOT NULL,
    actor                  TEXT NOT NULL,       -- a member, a key, a token's subject, or the operator
    actor_organisation_id  TEXT,
    organisation_id        TEXT,
    action                 TEXT NOT NULL,
    target                 TEXT,                -- the member or key acted on
    detail                 TEXT NOT NULL,
    address                TEXT
);
CREATE INDEX audit_events_organisation_idx ON audit_events(organisation_id, id);
