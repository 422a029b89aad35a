-- Retention (store.Retention): finished inbox rows lose their body, and later the row, by
-- age; observations expire by age. Bodies, snapshots and observations are sealed by the
-- application (store.SealBlob), so no column changes here.
CREATE INDEX inbox_finished_by_age ON inbox (received_at) WHERE state <> 'pending';
CREATE INDEX observations_by_age ON observations (observed_at);
