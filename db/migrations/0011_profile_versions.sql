-- Every profile a tenant saved, numbered per tenant, so a bad save can be undone
-- (`recado tenants profile history|restore`). `profile` NULL: the profile was cleared.
CREATE TABLE profile_versions (
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    version integer NOT NULL CHECK (version > 0),
    profile jsonb,
    saved_at timestamptz NOT NULL DEFAULT now(),
    -- The version this one restored, if it was a restore.
    restored_from integer,
    PRIMARY KEY (tenant_id, version)
);

-- The profiles in use today are each tenant's first version.
INSERT INTO profile_versions (tenant_id, version, profile)
SELECT id, 1, profile FROM tenants WHERE profile IS NOT NULL;
