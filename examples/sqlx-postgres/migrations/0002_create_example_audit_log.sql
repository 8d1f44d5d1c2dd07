CREATE TABLE example_audit_log (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES example_users (id),
    action TEXT NOT NULL
);
