-- Communities: one per Discord guild the bot serves.
CREATE TABLE communities (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    guild_id    text        NOT NULL UNIQUE,
    name        text        NOT NULL,
    settings    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
