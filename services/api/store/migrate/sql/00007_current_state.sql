-- 7 (issue 12 state):
-- current-state lists. person_assignments repeats people.assignments one
-- row per assignment so people can be filtered by organisation or staff
-- group and positions, organisations and locations listed;
-- people.changed_at is the api's clock when the row last changed
-- (?changed_since=), backfilled from updated_at. The caller's hook for this version
-- (migrate.WithHook) fills person_assignments from the people already
-- stored, in the same transaction (the JSON functions differ by engine).

-- +goose Up
CREATE TABLE person_assignments (
	tenant            TEXT NOT NULL,
	person_id         TEXT NOT NULL,
	assignment_number TEXT NOT NULL,
	position_number   TEXT NOT NULL,
	position_title    TEXT NOT NULL,
	organisation      TEXT NOT NULL,
	grade             TEXT NOT NULL,
	staff_group       TEXT NOT NULL,
	job_role          TEXT NOT NULL,
	occupation_code   TEXT NOT NULL,
	location          TEXT NOT NULL,
	set_at            BIGINT NOT NULL,
	PRIMARY KEY (tenant, person_id, assignment_number)
);
CREATE INDEX person_assignments_by_position ON person_assignments (tenant, position_number, set_at);
CREATE INDEX person_assignments_by_organisation ON person_assignments (tenant, organisation, person_id);
CREATE INDEX person_assignments_by_staff_group ON person_assignments (tenant, staff_group, person_id);
CREATE INDEX person_assignments_by_location ON person_assignments (tenant, location, person_id);
ALTER TABLE people ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
UPDATE people SET changed_at = updated_at;
CREATE INDEX people_by_employee_number ON people (tenant, employee_number, person_id);
CREATE INDEX people_by_status ON people (tenant, employment_status, person_id);
CREATE INDEX people_by_change ON people (tenant, changed_at);
