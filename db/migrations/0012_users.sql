-- The people who sign in to the admin pages, their sessions, one-time password links, failed
-- sign-ins (rate limiting) and an audit trail of what they did.

CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    -- agent and owner belong to one tenant; an operator is on call for the whole deployment.
    role text NOT NULL CHECK (role IN ('agent', 'owner', 'operator')),
    tenant_id bigint REFERENCES tenants (id),
    display_name text,
    -- NULL: the user has not chosen; the tenant profile's language decides.
    language text CHECK (language IN ('es', 'en')),
    -- NULL until the user sets one through a one-time link.
    password_hash text,
    disabled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'operator') = (tenant_id IS NULL)),
    UNIQUE (email)
);
CREATE INDEX users_tenant ON users (tenant_id);

-- A signed-in browser. The cookie carries the random id; only its SHA-256 is stored, so a read
-- of this table signs nobody in. Logout and disabling delete the rows.
CREATE TABLE user_sessions (
    token_hash bytea PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_expiry ON user_sessions (expires_at);

-- A link that lets its holder set the user's password once, before it expires.
CREATE TABLE password_links (
    token_hash bytea PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX password_links_user ON password_links (user_id);

-- Failed sign-ins, counted per account and per address over a sliding window.
CREATE TABLE login_failures (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    address text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email ON login_failures (email, at);
CREATE INDEX login_failures_address ON login_failures (address, at);

-- Who did what from the admin pages (requeue, discard, hand-off, settings...), for the record.
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint REFERENCES tenants (id),
    user_id bigint REFERENCES users (id),
    action text NOT NULL,
    target text,
    details jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at);
