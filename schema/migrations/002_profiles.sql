-- Profiles: a member of a community.
CREATE TABLE profiles (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    community_id    uuid        NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
    discord_user_id text        NOT NULL,
    wallet_address  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (community_id, discord_user_id)
);
CREATE INDEX profiles_wallet_address_idx ON profiles (wallet_address);
