-- The reference cloud's schema as release 0.1.0 made it on PostgreSQL (tests/cloud/test_migrations.py
-- builds a 0.1.0 database from it; never edit it to match newer models).
-- Made by: the files cloud/__init__.py, cloud/db.py and cloud/notice_tables.py of commit f6d9649
-- (release 0.1.0, `git show f6d9649:cloud/db.py` ...) in a directory of their own put first on
-- sys.path; that `cloud.db.Database(url).create_schema()` (metadata.create_all) on an empty
-- PostgreSQL 15 database; then `pg_dump --schema-only --no-owner --no-privileges`, less the
-- psql-only \restrict and \unrestrict lines.
--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: applications; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.applications (
    seq integer NOT NULL,
    printer_id character varying(36) NOT NULL,
    service_id character varying(64) NOT NULL,
    application_id character varying(64),
    cancelled_application_id character varying(64),
    application_date date NOT NULL,
    activation_state character varying(16) NOT NULL,
    activated_at timestamp without time zone
);


--
-- Name: applications_seq_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.applications_seq_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: applications_seq_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.applications_seq_seq OWNED BY public.applications.seq;


--
-- Name: cartridge_bindings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.cartridge_bindings (
    cartridge_id character varying(128) NOT NULL,
    printer_id character varying(36) NOT NULL,
    first_seen_at timestamp without time zone NOT NULL,
    last_seen_at timestamp without time zone NOT NULL
);


--
-- Name: cartridge_moves; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.cartridge_moves (
    id integer NOT NULL,
    cartridge_id character varying(128) NOT NULL,
    from_printer_id character varying(36) NOT NULL,
    to_printer_id character varying(36) NOT NULL,
    moved_at timestamp without time zone NOT NULL
);


--
-- Name: cartridge_moves_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.cartridge_moves_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: cartridge_moves_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.cartridge_moves_id_seq OWNED BY public.cartridge_moves.id;


--
-- Name: cartridge_orders; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.cartridge_orders (
    id character varying(36) NOT NULL,
    process_id character varying(36) NOT NULL,
    printer_id character varying(36) NOT NULL,
    payload json NOT NULL,
    created_at timestamp without time zone NOT NULL,
    state character varying(16) NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamp without time zone NOT NULL,
    last_error text,
    delivered_at timestamp without time zone
);


--
-- Name: changes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.changes (
    id integer NOT NULL,
    gateway_id character varying(36) NOT NULL,
    seq integer NOT NULL,
    occurred_at timestamp without time zone NOT NULL,
    message json NOT NULL
);


--
-- Name: changes_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.changes_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: changes_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.changes_id_seq OWNED BY public.changes.id;


--
-- Name: commands; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.commands (
    id character varying(36) NOT NULL,
    printer_id character varying(36) NOT NULL,
    gateway_id character varying(36) NOT NULL,
    kind character varying(64) NOT NULL,
    parameters json NOT NULL,
    issued_at timestamp without time zone NOT NULL,
    deadline timestamp without time zone NOT NULL,
    state character varying(16) NOT NULL,
    received_at timestamp without time zone,
    completed_at timestamp without time zone,
    reason json,
    contract_state json,
    service_setting json
);


--
-- Name: contract_processes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.contract_processes (
    id character varying(36) NOT NULL,
    kind character varying(16) NOT NULL,
    member_id character varying(128) NOT NULL,
    old_printer_id character varying(36),
    new_printer_id character varying(36),
    step character varying(16) NOT NULL,
    outcome character varying(16),
    state json NOT NULL,
    status_seq integer NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);


--
-- Name: contract_usage; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.contract_usage (
    printer_id character varying(36) NOT NULL,
    period character varying(16) NOT NULL,
    base_counter integer NOT NULL,
    last_counter integer NOT NULL,
    pages integer NOT NULL,
    counted_before_reset integer NOT NULL,
    last_read_at timestamp without time zone NOT NULL,
    limit_reached_at timestamp without time zone,
    updated_at timestamp without time zone NOT NULL
);


--
-- Name: enrolment_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.enrolment_tokens (
    id integer NOT NULL,
    token_hash character varying(64) NOT NULL,
    region character varying(32) NOT NULL,
    label character varying(128),
    created_at timestamp without time zone NOT NULL,
    expires_at timestamp without time zone NOT NULL,
    spent_at timestamp without time zone,
    gateway_id character varying(36),
    replay_key_hash character varying(64),
    replay_credential bytea,
    replay_until timestamp without time zone
);


--
-- Name: enrolment_tokens_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.enrolment_tokens_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: enrolment_tokens_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.enrolment_tokens_id_seq OWNED BY public.enrolment_tokens.id;


--
-- Name: gateways; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.gateways (
    id character varying(36) NOT NULL,
    name character varying(128) NOT NULL,
    hostname character varying(255),
    software_version character varying(64) NOT NULL,
    region character varying(32) NOT NULL,
    token_hash character varying(64) NOT NULL,
    enrolled_at timestamp without time zone NOT NULL,
    change_seq integer NOT NULL,
    pruned_through integer NOT NULL
);


--
-- Name: idempotent_requests; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.idempotent_requests (
    id integer NOT NULL,
    scope character varying(32) NOT NULL,
    principal character varying(64) NOT NULL,
    key character varying(255) NOT NULL,
    fingerprint character varying(64) NOT NULL,
    created_at timestamp without time zone NOT NULL,
    completed boolean NOT NULL,
    status integer,
    response json
);


--
-- Name: idempotent_requests_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.idempotent_requests_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: idempotent_requests_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.idempotent_requests_id_seq OWNED BY public.idempotent_requests.id;


--
-- Name: member_notices; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.member_notices (
    id character varying(36) NOT NULL,
    key character varying(255) NOT NULL,
    member_id character varying(128) NOT NULL,
    kind character varying(32) NOT NULL,
    payload json NOT NULL,
    created_at timestamp without time zone NOT NULL,
    state character varying(16) NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamp without time zone NOT NULL,
    last_error text,
    delivered_at timestamp without time zone
);


--
-- Name: meter_readings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meter_readings (
    id integer NOT NULL,
    printer_id character varying(36) NOT NULL,
    period character varying(7) NOT NULL,
    scheduled_at timestamp without time zone NOT NULL,
    read_at timestamp without time zone NOT NULL,
    received_at timestamp without time zone NOT NULL,
    entry_id character varying(36) NOT NULL,
    counters json NOT NULL
);


--
-- Name: meter_readings_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.meter_readings_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: meter_readings_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.meter_readings_id_seq OWNED BY public.meter_readings.id;


--
-- Name: meter_schedules; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meter_schedules (
    printer_id character varying(36) NOT NULL,
    schedule json NOT NULL,
    updated_at timestamp without time zone NOT NULL
);


--
-- Name: printer_contracts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.printer_contracts (
    printer_id character varying(36) NOT NULL,
    member_id character varying(128) NOT NULL,
    flag character varying(16) NOT NULL,
    mode character varying(32) NOT NULL,
    printing_prohibited boolean NOT NULL,
    page_limit integer NOT NULL,
    period character varying(16) NOT NULL,
    model character varying(128) NOT NULL,
    series character varying(128) NOT NULL,
    process_id character varying(36),
    updated_at timestamp without time zone NOT NULL,
    threshold_percent integer NOT NULL,
    model_source character varying(16),
    series_source character varying(16)
);


--
-- Name: printers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.printers (
    seq integer NOT NULL,
    id character varying(36) NOT NULL,
    gateway_id character varying(36) NOT NULL,
    serial character varying(128) NOT NULL,
    product_name character varying(256) NOT NULL,
    manufacturer character varying(128) NOT NULL,
    shipping_destination character varying(8) NOT NULL,
    time_zone text NOT NULL,
    device_type character varying(16) NOT NULL,
    uuid character varying(36),
    mac character varying(17),
    firmware character varying(128),
    sys_object_id text,
    registered_at timestamp without time zone NOT NULL,
    revision integer NOT NULL,
    current_data_types json,
    last_status_at timestamp without time zone,
    contract json,
    contract_read_at timestamp without time zone,
    contract_supported boolean,
    contract_requested json,
    unavailable_data_types json
);


--
-- Name: printers_seq_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.printers_seq_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: printers_seq_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.printers_seq_seq OWNED BY public.printers.seq;


--
-- Name: proposals; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.proposals (
    id character varying(36) NOT NULL,
    process_id character varying(36) NOT NULL,
    member_id character varying(128) NOT NULL,
    kind character varying(32) NOT NULL,
    question text NOT NULL,
    strongly_recommended boolean NOT NULL,
    state character varying(16) NOT NULL,
    answer character varying(8),
    created_at timestamp without time zone NOT NULL,
    closed_at timestamp without time zone
);


--
-- Name: provider_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.provider_deliveries (
    id character varying(36) NOT NULL,
    key character varying(255) NOT NULL,
    service_id character varying(64) NOT NULL,
    printer_id character varying(36) NOT NULL,
    kind character varying(16) NOT NULL,
    event character varying(32) NOT NULL,
    url character varying(2048),
    payload json NOT NULL,
    created_at timestamp without time zone NOT NULL,
    state character varying(16) NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamp without time zone NOT NULL,
    last_error text,
    delivered_at timestamp without time zone
);


--
-- Name: services; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.services (
    id character varying(64) NOT NULL,
    outline text NOT NULL,
    provider character varying(256) NOT NULL,
    data_types json NOT NULL,
    compatible_cartridge_models json NOT NULL,
    activation_by_first_upload boolean NOT NULL,
    kind character varying(64),
    provider_endpoint character varying(2048),
    required_functions json,
    order_threshold_percent integer
);


--
-- Name: statuses; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.statuses (
    seq integer NOT NULL,
    gateway_id character varying(36) NOT NULL,
    entry_id character varying(36) NOT NULL,
    printer_id character varying(36) NOT NULL,
    read_at timestamp without time zone NOT NULL,
    received_at timestamp without time zone NOT NULL,
    event character varying(64) NOT NULL,
    event_detail json,
    application_ids json,
    data json NOT NULL,
    data_types character varying(512) NOT NULL
);


--
-- Name: statuses_seq_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.statuses_seq_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: statuses_seq_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.statuses_seq_seq OWNED BY public.statuses.seq;


--
-- Name: supply_cycles; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.supply_cycles (
    printer_id character varying(36) NOT NULL,
    supply_index character varying(32) NOT NULL,
    cycle integer NOT NULL,
    last_level integer,
    cartridge_id character varying(128),
    updated_at timestamp without time zone NOT NULL
);


--
-- Name: webhook_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_attempts (
    id integer NOT NULL,
    delivery_id character varying(36) NOT NULL,
    attempted_at timestamp without time zone NOT NULL,
    status integer,
    error text
);


--
-- Name: webhook_attempts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.webhook_attempts_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: webhook_attempts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.webhook_attempts_id_seq OWNED BY public.webhook_attempts.id;


--
-- Name: applications seq; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.applications ALTER COLUMN seq SET DEFAULT nextval('public.applications_seq_seq'::regclass);


--
-- Name: cartridge_moves id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cartridge_moves ALTER COLUMN id SET DEFAULT nextval('public.cartridge_moves_id_seq'::regclass);


--
-- Name: changes id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.changes ALTER COLUMN id SET DEFAULT nextval('public.changes_id_seq'::regclass);


--
-- Name: enrolment_tokens id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.enrolment_tokens ALTER COLUMN id SET DEFAULT nextval('public.enrolment_tokens_id_seq'::regclass);


--
-- Name: idempotent_requests id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotent_requests ALTER COLUMN id SET DEFAULT nextval('public.idempotent_requests_id_seq'::regclass);


--
-- Name: meter_readings id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meter_readings ALTER COLUMN id SET DEFAULT nextval('public.meter_readings_id_seq'::regclass);


--
-- Name: printers seq; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.printers ALTER COLUMN seq SET DEFAULT nextval('public.printers_seq_seq'::regclass);


--
-- Name: statuses seq; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.statuses ALTER COLUMN seq SET DEFAULT nextval('public.statuses_seq_seq'::regclass);


--
-- Name: webhook_attempts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts ALTER COLUMN id SET DEFAULT nextval('public.webhook_attempts_id_seq'::regclass);


--
-- Name: applications applications_application_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.applications
    ADD CONSTRAINT applications_application_id_key UNIQUE (application_id);


--
-- Name: applications applications_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.applications
    ADD CONSTRAINT applications_pkey PRIMARY KEY (seq);


--
-- Name: applications applications_printer_id_service_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.applications
    ADD CONSTRAINT applications_printer_id_service_id_key UNIQUE (printer_id, service_id);


--
-- Name: cartridge_bindings cartridge_bindings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cartridge_bindings
    ADD CONSTRAINT cartridge_bindings_pkey PRIMARY KEY (cartridge_id);


--
-- Name: cartridge_moves cartridge_moves_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cartridge_moves
    ADD CONSTRAINT cartridge_moves_pkey PRIMARY KEY (id);


--
-- Name: cartridge_orders cartridge_orders_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cartridge_orders
    ADD CONSTRAINT cartridge_orders_pkey PRIMARY KEY (id);


--
-- Name: cartridge_orders cartridge_orders_process_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cartridge_orders
    ADD CONSTRAINT cartridge_orders_process_id_key UNIQUE (process_id);


--
-- Name: changes changes_gateway_id_seq_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.changes
    ADD CONSTRAINT changes_gateway_id_seq_key UNIQUE (gateway_id, seq);


--
-- Name: changes changes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.changes
    ADD CONSTRAINT changes_pkey PRIMARY KEY (id);


--
-- Name: commands commands_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.commands
    ADD CONSTRAINT commands_pkey PRIMARY KEY (id);


--
-- Name: contract_processes contract_processes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.contract_processes
    ADD CONSTRAINT contract_processes_pkey PRIMARY KEY (id);


--
-- Name: contract_usage contract_usage_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.contract_usage
    ADD CONSTRAINT contract_usage_pkey PRIMARY KEY (printer_id, period);


--
-- Name: enrolment_tokens enrolment_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.enrolment_tokens
    ADD CONSTRAINT enrolment_tokens_pkey PRIMARY KEY (id);


--
-- Name: enrolment_tokens enrolment_tokens_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.enrolment_tokens
    ADD CONSTRAINT enrolment_tokens_token_hash_key UNIQUE (token_hash);


--
-- Name: gateways gateways_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gateways
    ADD CONSTRAINT gateways_pkey PRIMARY KEY (id);


--
-- Name: gateways gateways_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gateways
    ADD CONSTRAINT gateways_token_hash_key UNIQUE (token_hash);


--
-- Name: idempotent_requests idempotent_requests_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotent_requests
    ADD CONSTRAINT idempotent_requests_pkey PRIMARY KEY (id);


--
-- Name: idempotent_requests idempotent_requests_scope_principal_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotent_requests
    ADD CONSTRAINT idempotent_requests_scope_principal_key_key UNIQUE (scope, principal, key);


--
-- Name: member_notices member_notices_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_notices
    ADD CONSTRAINT member_notices_key_key UNIQUE (key);


--
-- Name: member_notices member_notices_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_notices
    ADD CONSTRAINT member_notices_pkey PRIMARY KEY (id);


--
-- Name: meter_readings meter_readings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meter_readings
    ADD CONSTRAINT meter_readings_pkey PRIMARY KEY (id);


--
-- Name: meter_readings meter_readings_printer_id_period_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meter_readings
    ADD CONSTRAINT meter_readings_printer_id_period_key UNIQUE (printer_id, period);


--
-- Name: meter_schedules meter_schedules_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meter_schedules
    ADD CONSTRAINT meter_schedules_pkey PRIMARY KEY (printer_id);


--
-- Name: printer_contracts printer_contracts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.printer_contracts
    ADD CONSTRAINT printer_contracts_pkey PRIMARY KEY (printer_id);


--
-- Name: printers printers_gateway_id_serial_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.printers
    ADD CONSTRAINT printers_gateway_id_serial_key UNIQUE (gateway_id, serial);


--
-- Name: printers printers_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.printers
    ADD CONSTRAINT printers_id_key UNIQUE (id);


--
-- Name: printers printers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.printers
    ADD CONSTRAINT printers_pkey PRIMARY KEY (seq);


--
-- Name: proposals proposals_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.proposals
    ADD CONSTRAINT proposals_pkey PRIMARY KEY (id);


--
-- Name: provider_deliveries provider_deliveries_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.provider_deliveries
    ADD CONSTRAINT provider_deliveries_key_key UNIQUE (key);


--
-- Name: provider_deliveries provider_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.provider_deliveries
    ADD CONSTRAINT provider_deliveries_pkey PRIMARY KEY (id);


--
-- Name: services services_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.services
    ADD CONSTRAINT services_pkey PRIMARY KEY (id);


--
-- Name: statuses statuses_gateway_id_entry_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.statuses
    ADD CONSTRAINT statuses_gateway_id_entry_id_key UNIQUE (gateway_id, entry_id);


--
-- Name: statuses statuses_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.statuses
    ADD CONSTRAINT statuses_pkey PRIMARY KEY (seq);


--
-- Name: supply_cycles supply_cycles_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.supply_cycles
    ADD CONSTRAINT supply_cycles_pkey PRIMARY KEY (printer_id, supply_index);


--
-- Name: webhook_attempts webhook_attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_pkey PRIMARY KEY (id);


--
-- Name: ix_applications_cancelled_application_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_applications_cancelled_application_id ON public.applications USING btree (cancelled_application_id);


--
-- Name: ix_applications_printer_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_applications_printer_id ON public.applications USING btree (printer_id);


--
-- Name: ix_applications_service_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_applications_service_id ON public.applications USING btree (service_id);


--
-- Name: ix_cartridge_bindings_printer_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_cartridge_bindings_printer_id ON public.cartridge_bindings USING btree (printer_id);


--
-- Name: ix_cartridge_moves_cartridge_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_cartridge_moves_cartridge_id ON public.cartridge_moves USING btree (cartridge_id);


--
-- Name: ix_cartridge_orders_state; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_cartridge_orders_state ON public.cartridge_orders USING btree (state);


--
-- Name: ix_changes_occurred_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_changes_occurred_at ON public.changes USING btree (occurred_at);


--
-- Name: ix_commands_gateway_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_commands_gateway_id ON public.commands USING btree (gateway_id);


--
-- Name: ix_commands_printer_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_commands_printer_id ON public.commands USING btree (printer_id);


--
-- Name: ix_contract_processes_member_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_contract_processes_member_id ON public.contract_processes USING btree (member_id);


--
-- Name: ix_contract_processes_new_printer_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_contract_processes_new_printer_id ON public.contract_processes USING btree (new_printer_id);


--
-- Name: ix_contract_processes_old_printer_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_contract_processes_old_printer_id ON public.contract_processes USING btree (old_printer_id);


--
-- Name: ix_contract_processes_outcome; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_contract_processes_outcome ON public.contract_processes USING btree (outcome);


--
-- Name: ix_idempotent_requests_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_idempotent_requests_created_at ON public.idempotent_requests USING btree (created_at);


--
-- Name: ix_member_notices_member_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_member_notices_member_id ON public.member_notices USING btree (member_id);


--
-- Name: ix_member_notices_state; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_member_notices_state ON public.member_notices USING btree (state);


--
-- Name: ix_printer_contracts_member_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_printer_contracts_member_id ON public.printer_contracts USING btree (member_id);


--
-- Name: ix_printers_gateway_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_printers_gateway_id ON public.printers USING btree (gateway_id);


--
-- Name: ix_proposals_member_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_proposals_member_id ON public.proposals USING btree (member_id);


--
-- Name: ix_proposals_process_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_proposals_process_id ON public.proposals USING btree (process_id);


--
-- Name: ix_provider_deliveries_printer_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_provider_deliveries_printer_id ON public.provider_deliveries USING btree (printer_id);


--
-- Name: ix_provider_deliveries_service_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_provider_deliveries_service_id ON public.provider_deliveries USING btree (service_id);


--
-- Name: ix_provider_deliveries_state; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_provider_deliveries_state ON public.provider_deliveries USING btree (state);


--
-- Name: ix_statuses_printer_seq; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_statuses_printer_seq ON public.statuses USING btree (printer_id, seq);


--
-- Name: ix_webhook_attempts_delivery; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_webhook_attempts_delivery ON public.webhook_attempts USING btree (delivery_id, id);


--
-- Name: applications applications_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.applications
    ADD CONSTRAINT applications_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- Name: applications applications_service_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.applications
    ADD CONSTRAINT applications_service_id_fkey FOREIGN KEY (service_id) REFERENCES public.services(id);


--
-- Name: cartridge_bindings cartridge_bindings_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cartridge_bindings
    ADD CONSTRAINT cartridge_bindings_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- Name: cartridge_moves cartridge_moves_from_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cartridge_moves
    ADD CONSTRAINT cartridge_moves_from_printer_id_fkey FOREIGN KEY (from_printer_id) REFERENCES public.printers(id);


--
-- Name: cartridge_moves cartridge_moves_to_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cartridge_moves
    ADD CONSTRAINT cartridge_moves_to_printer_id_fkey FOREIGN KEY (to_printer_id) REFERENCES public.printers(id);


--
-- Name: cartridge_orders cartridge_orders_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cartridge_orders
    ADD CONSTRAINT cartridge_orders_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- Name: cartridge_orders cartridge_orders_process_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cartridge_orders
    ADD CONSTRAINT cartridge_orders_process_id_fkey FOREIGN KEY (process_id) REFERENCES public.contract_processes(id);


--
-- Name: changes changes_gateway_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.changes
    ADD CONSTRAINT changes_gateway_id_fkey FOREIGN KEY (gateway_id) REFERENCES public.gateways(id);


--
-- Name: commands commands_gateway_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.commands
    ADD CONSTRAINT commands_gateway_id_fkey FOREIGN KEY (gateway_id) REFERENCES public.gateways(id);


--
-- Name: commands commands_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.commands
    ADD CONSTRAINT commands_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- Name: contract_usage contract_usage_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.contract_usage
    ADD CONSTRAINT contract_usage_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- Name: meter_readings meter_readings_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meter_readings
    ADD CONSTRAINT meter_readings_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- Name: meter_schedules meter_schedules_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meter_schedules
    ADD CONSTRAINT meter_schedules_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- Name: printer_contracts printer_contracts_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.printer_contracts
    ADD CONSTRAINT printer_contracts_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- Name: printers printers_gateway_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.printers
    ADD CONSTRAINT printers_gateway_id_fkey FOREIGN KEY (gateway_id) REFERENCES public.gateways(id);


--
-- Name: proposals proposals_process_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.proposals
    ADD CONSTRAINT proposals_process_id_fkey FOREIGN KEY (process_id) REFERENCES public.contract_processes(id);


--
-- Name: provider_deliveries provider_deliveries_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.provider_deliveries
    ADD CONSTRAINT provider_deliveries_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- Name: provider_deliveries provider_deliveries_service_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.provider_deliveries
    ADD CONSTRAINT provider_deliveries_service_id_fkey FOREIGN KEY (service_id) REFERENCES public.services(id);


--
-- Name: statuses statuses_gateway_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.statuses
    ADD CONSTRAINT statuses_gateway_id_fkey FOREIGN KEY (gateway_id) REFERENCES public.gateways(id);


--
-- Name: statuses statuses_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.statuses
    ADD CONSTRAINT statuses_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- Name: supply_cycles supply_cycles_printer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.supply_cycles
    ADD CONSTRAINT supply_cycles_printer_id_fkey FOREIGN KEY (printer_id) REFERENCES public.printers(id);


--
-- PostgreSQL database dump complete
--


