-- The reference cloud's schema as release 0.1.0 made it on SQLite (tests/cloud/test_migrations.py
-- builds a 0.1.0 database from it; never edit it to match newer models).
-- Made by: the files cloud/__init__.py, cloud/db.py and cloud/notice_tables.py of commit f6d9649
-- (release 0.1.0, `git show f6d9649:cloud/db.py` ...) in a directory of their own put first on
-- sys.path; that `cloud.db.Database(url).create_schema()` (metadata.create_all) on an empty
-- SQLite file; then `sqlite3 FILE .schema`.
CREATE TABLE enrolment_tokens (
	id INTEGER NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	region VARCHAR(32) NOT NULL, 
	label VARCHAR(128), 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	spent_at DATETIME, 
	gateway_id VARCHAR(36), 
	replay_key_hash VARCHAR(64), 
	replay_credential BLOB, 
	replay_until DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (token_hash)
);
CREATE TABLE gateways (
	id VARCHAR(36) NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	hostname VARCHAR(255), 
	software_version VARCHAR(64) NOT NULL, 
	region VARCHAR(32) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	enrolled_at DATETIME NOT NULL, 
	change_seq INTEGER NOT NULL, 
	pruned_through INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (token_hash)
);
CREATE TABLE services (
	id VARCHAR(64) NOT NULL, 
	outline TEXT NOT NULL, 
	provider VARCHAR(256) NOT NULL, 
	data_types JSON NOT NULL, 
	compatible_cartridge_models JSON NOT NULL, 
	activation_by_first_upload BOOLEAN NOT NULL, 
	kind VARCHAR(64), 
	provider_endpoint VARCHAR(2048), 
	required_functions JSON, 
	order_threshold_percent INTEGER, 
	PRIMARY KEY (id)
);
CREATE TABLE idempotent_requests (
	id INTEGER NOT NULL, 
	scope VARCHAR(32) NOT NULL, 
	principal VARCHAR(64) NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	completed BOOLEAN NOT NULL, 
	status INTEGER, 
	response JSON, 
	PRIMARY KEY (id), 
	UNIQUE (scope, principal, "key")
);
CREATE INDEX ix_idempotent_requests_created_at ON idempotent_requests (created_at);
CREATE TABLE contract_processes (
	id VARCHAR(36) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	member_id VARCHAR(128) NOT NULL, 
	old_printer_id VARCHAR(36), 
	new_printer_id VARCHAR(36), 
	step VARCHAR(16) NOT NULL, 
	outcome VARCHAR(16), 
	state JSON NOT NULL, 
	status_seq INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_contract_processes_old_printer_id ON contract_processes (old_printer_id);
CREATE INDEX ix_contract_processes_outcome ON contract_processes (outcome);
CREATE INDEX ix_contract_processes_member_id ON contract_processes (member_id);
CREATE INDEX ix_contract_processes_new_printer_id ON contract_processes (new_printer_id);
CREATE TABLE member_notices (
	id VARCHAR(36) NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	member_id VARCHAR(128) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	payload JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	last_error TEXT, 
	delivered_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE ("key")
);
CREATE INDEX ix_member_notices_state ON member_notices (state);
CREATE INDEX ix_member_notices_member_id ON member_notices (member_id);
CREATE TABLE webhook_attempts (
	id INTEGER NOT NULL, 
	delivery_id VARCHAR(36) NOT NULL, 
	attempted_at DATETIME NOT NULL, 
	status INTEGER, 
	error TEXT, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
CREATE TABLE printers (
	seq INTEGER NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	gateway_id VARCHAR(36) NOT NULL, 
	serial VARCHAR(128) NOT NULL, 
	product_name VARCHAR(256) NOT NULL, 
	manufacturer VARCHAR(128) NOT NULL, 
	shipping_destination VARCHAR(8) NOT NULL, 
	time_zone TEXT NOT NULL, 
	device_type VARCHAR(16) NOT NULL, 
	uuid VARCHAR(36), 
	mac VARCHAR(17), 
	firmware VARCHAR(128), 
	sys_object_id TEXT, 
	registered_at DATETIME NOT NULL, 
	revision INTEGER NOT NULL, 
	current_data_types JSON, 
	last_status_at DATETIME, 
	contract JSON, 
	contract_read_at DATETIME, 
	contract_supported BOOLEAN, 
	contract_requested JSON, 
	unavailable_data_types JSON, 
	PRIMARY KEY (seq), 
	UNIQUE (gateway_id, serial), 
	UNIQUE (id), 
	FOREIGN KEY(gateway_id) REFERENCES gateways (id)
);
CREATE INDEX ix_printers_gateway_id ON printers (gateway_id);
CREATE TABLE changes (
	id INTEGER NOT NULL, 
	gateway_id VARCHAR(36) NOT NULL, 
	seq INTEGER NOT NULL, 
	occurred_at DATETIME NOT NULL, 
	message JSON NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (gateway_id, seq), 
	FOREIGN KEY(gateway_id) REFERENCES gateways (id)
);
CREATE INDEX ix_changes_occurred_at ON changes (occurred_at);
CREATE TABLE proposals (
	id VARCHAR(36) NOT NULL, 
	process_id VARCHAR(36) NOT NULL, 
	member_id VARCHAR(128) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	question TEXT NOT NULL, 
	strongly_recommended BOOLEAN NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	answer VARCHAR(8), 
	created_at DATETIME NOT NULL, 
	closed_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(process_id) REFERENCES contract_processes (id)
);
CREATE INDEX ix_proposals_process_id ON proposals (process_id);
CREATE INDEX ix_proposals_member_id ON proposals (member_id);
CREATE TABLE applications (
	seq INTEGER NOT NULL, 
	printer_id VARCHAR(36) NOT NULL, 
	service_id VARCHAR(64) NOT NULL, 
	application_id VARCHAR(64), 
	cancelled_application_id VARCHAR(64), 
	application_date DATE NOT NULL, 
	activation_state VARCHAR(16) NOT NULL, 
	activated_at DATETIME, 
	PRIMARY KEY (seq), 
	UNIQUE (printer_id, service_id), 
	FOREIGN KEY(printer_id) REFERENCES printers (id), 
	FOREIGN KEY(service_id) REFERENCES services (id), 
	UNIQUE (application_id)
);
CREATE INDEX ix_applications_printer_id ON applications (printer_id);
CREATE INDEX ix_applications_service_id ON applications (service_id);
CREATE INDEX ix_applications_cancelled_application_id ON applications (cancelled_application_id);
CREATE TABLE statuses (
	seq INTEGER NOT NULL, 
	gateway_id VARCHAR(36) NOT NULL, 
	entry_id VARCHAR(36) NOT NULL, 
	printer_id VARCHAR(36) NOT NULL, 
	read_at DATETIME NOT NULL, 
	received_at DATETIME NOT NULL, 
	event VARCHAR(64) NOT NULL, 
	event_detail JSON, 
	application_ids JSON, 
	data JSON NOT NULL, 
	data_types VARCHAR(512) NOT NULL, 
	PRIMARY KEY (seq), 
	UNIQUE (gateway_id, entry_id), 
	FOREIGN KEY(gateway_id) REFERENCES gateways (id), 
	FOREIGN KEY(printer_id) REFERENCES printers (id)
);
CREATE INDEX ix_statuses_printer_seq ON statuses (printer_id, seq);
CREATE TABLE commands (
	id VARCHAR(36) NOT NULL, 
	printer_id VARCHAR(36) NOT NULL, 
	gateway_id VARCHAR(36) NOT NULL, 
	kind VARCHAR(64) NOT NULL, 
	parameters JSON NOT NULL, 
	issued_at DATETIME NOT NULL, 
	deadline DATETIME NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	received_at DATETIME, 
	completed_at DATETIME, 
	reason JSON, 
	contract_state JSON, 
	service_setting JSON, 
	PRIMARY KEY (id), 
	FOREIGN KEY(printer_id) REFERENCES printers (id), 
	FOREIGN KEY(gateway_id) REFERENCES gateways (id)
);
CREATE INDEX ix_commands_gateway_id ON commands (gateway_id);
CREATE INDEX ix_commands_printer_id ON commands (printer_id);
CREATE TABLE printer_contracts (
	printer_id VARCHAR(36) NOT NULL, 
	member_id VARCHAR(128) NOT NULL, 
	flag VARCHAR(16) NOT NULL, 
	mode VARCHAR(32) NOT NULL, 
	printing_prohibited BOOLEAN NOT NULL, 
	page_limit INTEGER NOT NULL, 
	period VARCHAR(16) NOT NULL, 
	model VARCHAR(128) NOT NULL, 
	series VARCHAR(128) NOT NULL, 
	process_id VARCHAR(36), 
	updated_at DATETIME NOT NULL, 
	threshold_percent INTEGER NOT NULL, 
	model_source VARCHAR(16), 
	series_source VARCHAR(16), 
	PRIMARY KEY (printer_id), 
	FOREIGN KEY(printer_id) REFERENCES printers (id)
);
CREATE INDEX ix_printer_contracts_member_id ON printer_contracts (member_id);
CREATE TABLE cartridge_orders (
	id VARCHAR(36) NOT NULL, 
	process_id VARCHAR(36) NOT NULL, 
	printer_id VARCHAR(36) NOT NULL, 
	payload JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	last_error TEXT, 
	delivered_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (process_id), 
	FOREIGN KEY(process_id) REFERENCES contract_processes (id), 
	FOREIGN KEY(printer_id) REFERENCES printers (id)
);
CREATE INDEX ix_cartridge_orders_state ON cartridge_orders (state);
CREATE TABLE meter_schedules (
	printer_id VARCHAR(36) NOT NULL, 
	schedule JSON NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (printer_id), 
	FOREIGN KEY(printer_id) REFERENCES printers (id)
);
CREATE TABLE meter_readings (
	id INTEGER NOT NULL, 
	printer_id VARCHAR(36) NOT NULL, 
	period VARCHAR(7) NOT NULL, 
	scheduled_at DATETIME NOT NULL, 
	read_at DATETIME NOT NULL, 
	received_at DATETIME NOT NULL, 
	entry_id VARCHAR(36) NOT NULL, 
	counters JSON NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (printer_id, period), 
	FOREIGN KEY(printer_id) REFERENCES printers (id)
);
CREATE TABLE contract_usage (
	printer_id VARCHAR(36) NOT NULL, 
	period VARCHAR(16) NOT NULL, 
	base_counter INTEGER NOT NULL, 
	last_counter INTEGER NOT NULL, 
	pages INTEGER NOT NULL, 
	counted_before_reset INTEGER NOT NULL, 
	last_read_at DATETIME NOT NULL, 
	limit_reached_at DATETIME, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (printer_id, period), 
	FOREIGN KEY(printer_id) REFERENCES printers (id)
);
CREATE TABLE cartridge_bindings (
	cartridge_id VARCHAR(128) NOT NULL, 
	printer_id VARCHAR(36) NOT NULL, 
	first_seen_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	PRIMARY KEY (cartridge_id), 
	FOREIGN KEY(printer_id) REFERENCES printers (id)
);
CREATE INDEX ix_cartridge_bindings_printer_id ON cartridge_bindings (printer_id);
CREATE TABLE cartridge_moves (
	id INTEGER NOT NULL, 
	cartridge_id VARCHAR(128) NOT NULL, 
	from_printer_id VARCHAR(36) NOT NULL, 
	to_printer_id VARCHAR(36) NOT NULL, 
	moved_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(from_printer_id) REFERENCES printers (id), 
	FOREIGN KEY(to_printer_id) REFERENCES printers (id)
);
CREATE INDEX ix_cartridge_moves_cartridge_id ON cartridge_moves (cartridge_id);
CREATE TABLE provider_deliveries (
	id VARCHAR(36) NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	service_id VARCHAR(64) NOT NULL, 
	printer_id VARCHAR(36) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	event VARCHAR(32) NOT NULL, 
	url VARCHAR(2048), 
	payload JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	last_error TEXT, 
	delivered_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE ("key"), 
	FOREIGN KEY(service_id) REFERENCES services (id), 
	FOREIGN KEY(printer_id) REFERENCES printers (id)
);
CREATE INDEX ix_provider_deliveries_service_id ON provider_deliveries (service_id);
CREATE INDEX ix_provider_deliveries_printer_id ON provider_deliveries (printer_id);
CREATE INDEX ix_provider_deliveries_state ON provider_deliveries (state);
CREATE TABLE supply_cycles (
	printer_id VARCHAR(36) NOT NULL, 
	supply_index VARCHAR(32) NOT NULL, 
	cycle INTEGER NOT NULL, 
	last_level INTEGER, 
	cartridge_id VARCHAR(128), 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (printer_id, supply_index), 
	FOREIGN KEY(printer_id) REFERENCES printers (id)
);
