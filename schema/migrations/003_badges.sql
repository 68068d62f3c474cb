-- Badges: awarded to profiles.
CREATE TABLE badges (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    profile_id  uuid        NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    kind        text        NOT NULL,
    awarded_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (profile_id, kind)
);
CREATE INDEX badges_kind_idx ON badges (kind);
