-- SPDX-License-Identifier: Apache-2.0
-- MGS demo EMR for PostgreSQL: the "EMR interface" a hospital exposes to MGS (views and
-- functions mg_lookup_patient, mg_lookup_tests, mg_write_result) plus invented demo data. SPEC section 5: barcode 107558 = patient 1234 (홍길동, 50, M),
-- class E, location 1111^2222, HGB/HCT/RBC/WBC on device E024 (channels 03/04/02/01, OBX-13 P,P,Q,Q).
-- All other patients are invented; the 410xxx barcodes are the ones the shared test cases send. The cases' standard-lab
-- patients (DK77001, KR5xxxx) send their record number in PID-3.1, so it is also their specimen barcode here.
-- Load into an empty database:  psql -v ON_ERROR_STOP=1 -d <db> -f examples/emr-postgres/emr.sql
--
-- Interface (what MGS reads and writes):
--   mg_patient        one row per specimen barcode: patient_no, name, family_name, given_name,
--                     birth_date (date), age (years), sex (M/F/U), patient_class (PV1-2), ward, room (PV1-3.1/.2)
--   mg_ordered_tests  one row per ordered test and device able to run it: barcode, device, seq,
--                     test_code (OBX-4), channel_code (the device's OBX-3), test_name, units (OBX-6),
--                     ref_range (OBX-7 text as the MG writes it, e.g. 11.2~17.2), ref_low, ref_high,
--                     critical_low, critical_high (the range for the patient's sex and age), obx13 (P/Q)
--   mg_test_ranges    every reference range: by test, device, sex and age band, with critical limits
--   results           what `emr write` inserts: one row per OBX (unique per message_key + set_id)

BEGIN;

CREATE TABLE devices (
  device_code   TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  department    TEXT
);

CREATE TABLE tests (
  test_code     TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  category      TEXT NOT NULL,            -- hematology, chemistry, urinalysis, image
  units         TEXT,
  loinc         TEXT
);

-- Which device runs which test, under which channel code (OBX-3 in the device's results).
CREATE TABLE device_channels (
  device_code   TEXT NOT NULL REFERENCES devices (device_code),
  test_code     TEXT NOT NULL REFERENCES tests (test_code),
  channel_code  TEXT NOT NULL,
  units         TEXT,                     -- when the device reports other units than the test's
  PRIMARY KEY (device_code, test_code)
);

-- Reference ranges: the most specific row wins (device, then sex, then age band).
-- age_min <= age < age_max, in years; NULL = no bound. range_text is what OBX-7 carries.
CREATE TABLE reference_ranges (
  range_id      INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  test_code     TEXT NOT NULL REFERENCES tests (test_code),
  device_code   TEXT REFERENCES devices (device_code),
  sex           TEXT CHECK (sex IN ('M', 'F')),
  age_min       INTEGER,
  age_max       INTEGER,
  range_text    TEXT NOT NULL,
  low           NUMERIC,
  high          NUMERIC,
  critical_low  NUMERIC,                  -- at or below: LL (panic value)
  critical_high NUMERIC                   -- at or above: HH
);

CREATE TABLE patients (
  patient_no    TEXT PRIMARY KEY,
  name          TEXT NOT NULL,            -- as the hospital writes it (the MG shows it in PID-4)
  family_name   TEXT,
  given_name    TEXT,
  birth_date    DATE,
  age           INTEGER,                  -- years, as registered (fixed, so the demo answers never change)
  sex           TEXT CHECK (sex IN ('M', 'F', 'O', 'U')),
  patient_class TEXT,                     -- PV1-2: E emergency, I inpatient, O outpatient
  ward          TEXT,                     -- PV1-3.1
  room          TEXT                      -- PV1-3.2
);

-- A specimen barcode belongs to one patient.
CREATE TABLE specimens (
  barcode       TEXT PRIMARY KEY,
  patient_no    TEXT NOT NULL REFERENCES patients (patient_no),
  collected_at  TIMESTAMP
);

-- The tests the doctor ordered for a specimen, in order; obx13 is the MG's P/Q code (OBX-13).
CREATE TABLE orders (
  barcode       TEXT NOT NULL REFERENCES specimens (barcode),
  test_code     TEXT NOT NULL REFERENCES tests (test_code),
  seq           INTEGER NOT NULL,
  obx13         TEXT,
  PRIMARY KEY (barcode, test_code)
);

-- Results written by `emr write`, one row per OBX. A message is written once: a retry with the
-- same message_key (the spool's key, or the SHA-256 of the message) adds nothing.
CREATE TABLE results (
  id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  barcode       TEXT,                     -- PID-3.1
  patient_no    TEXT,                     -- PID-3.3
  device        TEXT,                     -- PID-3.2
  test_code     TEXT,                     -- OBX-4.1
  channel_code  TEXT,                     -- OBX-3.1
  value         TEXT,                     -- OBX-5, decoded (escapes resolved); NULL for the HL7 null ""
  numeric_value DOUBLE PRECISION,         -- OBX-5 as a number when it is one
  units         TEXT,                     -- OBX-6
  ref_range     TEXT,                     -- OBX-7 as sent (11.2~17.2)
  flag          TEXT,                     -- HL7 table 0078 (N, L, H, LL, HH); '' = not evaluable
  reason        TEXT,                     -- why there is no flag
  observed_at   TIMESTAMPTZ,              -- OBR-7 as an instant
  received_at   TIMESTAMPTZ,              -- when MGS received the message
  control_id    TEXT,                     -- MSH-10
  message_key   TEXT NOT NULL,
  set_id        INTEGER NOT NULL,         -- position of the OBX in the message (OBX-1 when numbered 1..n)
  written_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX results_message_row ON results (message_key, set_id);
CREATE INDEX results_barcode ON results (barcode);

CREATE VIEW mg_patient AS
SELECT s.barcode, p.patient_no, p.name, p.family_name, p.given_name, p.birth_date, p.age, p.sex,
       p.patient_class, p.ward, p.room
  FROM specimens s
  JOIN patients p ON p.patient_no = s.patient_no;

CREATE VIEW mg_ordered_tests AS
SELECT o.barcode, dc.device_code AS device, o.seq, o.test_code, dc.channel_code, t.name AS test_name,
       COALESCE(dc.units, t.units) AS units,
       r.range_text AS ref_range, r.low AS ref_low, r.high AS ref_high,
       r.critical_low, r.critical_high, o.obx13
  FROM orders o
  JOIN specimens s ON s.barcode = o.barcode
  JOIN patients p ON p.patient_no = s.patient_no
  JOIN tests t ON t.test_code = o.test_code
  JOIN device_channels dc ON dc.test_code = o.test_code
  LEFT JOIN reference_ranges r ON r.range_id = (
        SELECT r2.range_id
          FROM reference_ranges r2
         WHERE r2.test_code = o.test_code
           AND (r2.device_code IS NULL OR r2.device_code = dc.device_code)
           AND (r2.sex IS NULL OR r2.sex = p.sex)
           AND (r2.age_min IS NULL OR p.age >= r2.age_min)
           AND (r2.age_max IS NULL OR p.age < r2.age_max)
         ORDER BY CASE WHEN r2.device_code IS NULL THEN 0 ELSE 1 END DESC,
                  CASE WHEN r2.sex IS NULL THEN 0 ELSE 1 END DESC,
                  CASE WHEN r2.age_min IS NULL AND r2.age_max IS NULL THEN 0 ELSE 1 END DESC,
                  r2.range_id
         LIMIT 1);

CREATE VIEW mg_test_ranges AS
SELECT r.range_id, r.test_code, t.name AS test_name, t.category, t.units, r.device_code, r.sex,
       r.age_min, r.age_max, r.range_text, r.low, r.high, r.critical_low, r.critical_high
  FROM reference_ranges r
  JOIN tests t ON t.test_code = r.test_code;

-- Stored procedures (set-returning functions: MGS calls them as SELECT * FROM name($1, ...)).
CREATE FUNCTION mg_lookup_patient(p_barcode TEXT) RETURNS SETOF mg_patient
  LANGUAGE sql STABLE AS $$
  SELECT * FROM mg_patient WHERE barcode = p_barcode
$$;

CREATE FUNCTION mg_lookup_tests(p_barcode TEXT, p_device TEXT) RETURNS SETOF mg_ordered_tests
  LANGUAGE sql STABLE AS $$
  SELECT * FROM mg_ordered_tests WHERE barcode = p_barcode AND device = p_device ORDER BY seq
$$;

-- One result row; a row already written for this message key and OBX set id is left alone.
CREATE FUNCTION mg_write_result(p_barcode TEXT, p_patient_no TEXT, p_device TEXT, p_test_code TEXT,
    p_channel_code TEXT, p_value TEXT, p_numeric_value DOUBLE PRECISION, p_units TEXT, p_range TEXT,
    p_flag TEXT, p_reason TEXT, p_observed_at TIMESTAMPTZ, p_received_at TIMESTAMPTZ, p_control_id TEXT,
    p_message_key TEXT, p_set_id INTEGER)
  RETURNS TABLE (inserted INTEGER)
  LANGUAGE sql AS $$
  WITH ins AS (
    INSERT INTO results (barcode, patient_no, device, test_code, channel_code, value, numeric_value,
                         units, ref_range, flag, reason, observed_at, received_at, control_id, message_key, set_id)
    VALUES (p_barcode, p_patient_no, p_device, p_test_code, p_channel_code, p_value, p_numeric_value,
            p_units, p_range, p_flag, p_reason, p_observed_at, p_received_at, p_control_id, p_message_key, p_set_id)
    ON CONFLICT (message_key, set_id) DO NOTHING
    RETURNING 1)
  SELECT count(*)::INTEGER FROM ins
$$;

-- Demo data

INSERT INTO devices (device_code, name, department) VALUES
  ('E024', 'Sysmex XE-2100 hematology analyzer', 'hematology'),
  ('E031', '12-lead ECG (image files)', 'cardiology'),
  ('E041', 'Spirometer (image files)', 'pulmonology'),
  ('E052', 'Mindray BC-5150 hematology analyzer', 'hematology'),
  ('E060', 'Chemistry analyzer', 'chemistry'),
  ('E070', 'Urinalysis analyzer', 'urinalysis'),
  ('E077', 'Chemistry analyzer (range formats)', 'chemistry');

INSERT INTO tests (test_code, name, category, units, loinc) VALUES
  ('WBC', 'White blood cells', 'hematology', '*10-6/mm-3', '6690-2'),
  ('RBC', 'Red blood cells', 'hematology', '*10-6/mm-3', '789-8'),
  ('HGB', 'Hemoglobin', 'hematology', 'g/dl', '718-7'),
  ('HCT', 'Hematocrit', 'hematology', '%', '4544-3'),
  ('PLT', 'Platelets', 'hematology', '*10-3/mm-3', '777-3'),
  ('MCV', 'Mean corpuscular volume', 'hematology', 'fL', '787-2'),
  ('MCH', 'Mean corpuscular hemoglobin', 'hematology', 'pg', '785-6'),
  ('MCHC', 'Mean corpuscular hemoglobin concentration', 'hematology', 'g/dL', '786-4'),
  ('RDW-CV', 'Red cell distribution width', 'hematology', '%', '788-0'),
  ('MPV', 'Mean platelet volume', 'hematology', 'fL', '32623-1'),
  ('NEU#', 'Neutrophils (absolute)', 'hematology', '10*3/uL', '751-8'),
  ('LYM#', 'Lymphocytes (absolute)', 'hematology', '10*3/uL', '731-0'),
  ('NEU%', 'Neutrophils (percent)', 'hematology', '%', '770-8'),
  ('LYM%', 'Lymphocytes (percent)', 'hematology', '%', '736-9'),
  ('H-NR%', 'High-fluorescence nucleated RBC', 'hematology', '%', NULL),
  ('GLU', 'Glucose', 'chemistry', 'mg/dL', '2345-7'),
  ('GLU2', 'Glucose (second channel)', 'chemistry', 'mg/dL', '2345-7'),
  ('NA', 'Sodium', 'chemistry', 'mmol/L', '2951-2'),
  ('K', 'Potassium', 'chemistry', 'mmol/L', '2823-3'),
  ('K2', 'Potassium (second channel)', 'chemistry', 'mmol/L', '2823-3'),
  ('CREA', 'Creatinine', 'chemistry', 'mg/dL', '2160-0'),
  ('ALP', 'Alkaline phosphatase', 'chemistry', 'U/L', '6768-6'),
  ('CRP', 'C-reactive protein', 'chemistry', 'mg/L', '1988-5'),
  ('CRP2', 'C-reactive protein (second channel)', 'chemistry', 'mg/L', '1988-5'),
  ('TBIL', 'Total bilirubin', 'chemistry', 'mg/dL', '1975-2'),
  ('ALB', 'Albumin', 'chemistry', 'g/dL', '1751-7'),
  ('LDL', 'LDL cholesterol', 'chemistry', 'mmol/L', '13457-7'),
  ('TROP', 'Troponin I', 'chemistry', 'ng/mL', '10839-9'),
  ('TSH', 'Thyrotropin', 'chemistry', 'mIU/L', '3016-3'),
  ('VITD', '25-hydroxyvitamin D', 'chemistry', 'ng/mL', '1989-3'),
  ('VITD2', '25-hydroxyvitamin D (second channel)', 'chemistry', 'ng/mL', '1989-3'),
  ('BE', 'Base excess', 'chemistry', 'mmol/L', '11555-0'),
  ('BE2', 'Base excess (second channel)', 'chemistry', 'mmol/L', '11555-0'),
  ('U-PH', 'Urine pH', 'urinalysis', '', '2756-5'),
  ('U-SG', 'Urine specific gravity', 'urinalysis', '', '2965-2'),
  ('U-PRO', 'Urine protein', 'urinalysis', 'mg/dL', '2888-6'),
  ('U-GLU', 'Urine glucose', 'urinalysis', 'mg/dL', '2350-7'),
  ('U-BLD', 'Urine blood', 'urinalysis', '', '5794-3'),
  ('U-LEU', 'Urine leukocyte esterase', 'urinalysis', '', '5799-2'),
  ('ECG', 'Electrocardiogram', 'image', '', NULL),
  ('SPIRO', 'Spirometry report', 'image', '', NULL);

INSERT INTO device_channels (device_code, test_code, channel_code, units) VALUES
  ('E024', 'WBC', '01', NULL),
  ('E024', 'RBC', '02', NULL),
  ('E024', 'HGB', '03', NULL),
  ('E024', 'HCT', '04', NULL),
  ('E024', 'PLT', '05', NULL),
  ('E031', 'ECG', '01', NULL),
  ('E041', 'SPIRO', '01', NULL),
  ('E052', 'WBC', '6690-2', '10*3/uL'),
  ('E052', 'NEU#', '751-8', NULL),
  ('E052', 'LYM#', '731-0', NULL),
  ('E052', 'NEU%', '770-8', NULL),
  ('E052', 'LYM%', '736-9', NULL),
  ('E052', 'RBC', '789-8', '10*6/uL'),
  ('E052', 'HGB', '718-7', 'g/dL'),
  ('E052', 'HCT', '4544-3', NULL),
  ('E052', 'MCV', '787-2', NULL),
  ('E052', 'MCH', '785-6', NULL),
  ('E052', 'MCHC', '786-4', NULL),
  ('E052', 'RDW-CV', '788-0', NULL),
  ('E052', 'PLT', '777-3', '10*3/uL'),
  ('E052', 'MPV', '32623-1', NULL),
  ('E052', 'H-NR%', '10055', NULL),
  ('E060', 'GLU', '11', NULL),
  ('E060', 'NA', '12', NULL),
  ('E060', 'K', '13', NULL),
  ('E060', 'CREA', '14', NULL),
  ('E060', 'ALP', '15', NULL),
  ('E060', 'CRP', '16', NULL),
  ('E060', 'TBIL', '17', NULL),
  ('E060', 'ALB', '18', NULL),
  ('E070', 'U-PH', '41', NULL),
  ('E070', 'U-SG', '42', NULL),
  ('E070', 'U-PRO', '43', NULL),
  ('E070', 'U-GLU', '44', NULL),
  ('E070', 'U-BLD', '45', NULL),
  ('E070', 'U-LEU', '46', NULL),
  ('E077', 'HGB', '03', NULL),
  ('E077', 'WBC', '01', NULL),
  ('E077', 'K', '21', NULL),
  ('E077', 'CRP', '22', NULL),
  ('E077', 'CRP2', '23', NULL),
  ('E077', 'VITD', '24', NULL),
  ('E077', 'VITD2', '25', NULL),
  ('E077', 'GLU', '26', NULL),
  ('E077', 'GLU2', '27', NULL),
  ('E077', 'BE', '28', NULL),
  ('E077', 'BE2', '29', NULL),
  ('E077', 'ALB', '30', NULL),
  ('E077', 'TBIL', '31', NULL),
  ('E077', 'LDL', '32', NULL),
  ('E077', 'CREA', '33', NULL),
  ('E077', 'TROP', '34', NULL),
  ('E077', 'K2', '35', NULL),
  ('E077', 'TSH', '36', NULL),
  ('E077', 'PLT', '37', NULL);

INSERT INTO reference_ranges (test_code, device_code, sex, age_min, age_max, range_text, low, high, critical_low, critical_high) VALUES
  ('HGB', 'E024', NULL, NULL, NULL, '11.2~17.2', 11.2, 17.2, 5.0, 20.0),
  ('HCT', 'E024', NULL, NULL, NULL, '33.6~51.5', 33.6, 51.5, 15.0, 60.0),
  ('RBC', 'E024', NULL, NULL, NULL, '3.8~5.6', 3.8, 5.6, NULL, NULL),
  ('WBC', 'E024', NULL, NULL, NULL, '3.2~10.2', 3.2, 10.2, 1.0, 30.0),
  ('PLT', 'E024', NULL, NULL, NULL, '150~400', 150, 400, 20, 1000),
  ('HGB', NULL, 'M', 12, NULL, '13.5~17.5', 13.5, 17.5, 7.0, 20.0),
  ('HGB', NULL, 'F', 12, NULL, '12.0~16.0', 12.0, 16.0, 7.0, 20.0),
  ('HGB', NULL, NULL, 0, 12, '11.5~15.5', 11.5, 15.5, 7.0, 20.0),
  ('HGB', NULL, NULL, NULL, NULL, '12.0~17.5', 12.0, 17.5, 7.0, 20.0),
  ('HCT', NULL, 'M', NULL, NULL, '40.0~54.0', 40.0, 54.0, 20.0, 60.0),
  ('HCT', NULL, 'F', NULL, NULL, '36.0~48.0', 36.0, 48.0, 20.0, 60.0),
  ('WBC', NULL, NULL, NULL, NULL, '4.0~10.0', 4.0, 10.0, 2.0, 30.0),
  ('RBC', NULL, 'M', NULL, NULL, '4.2~5.9', 4.2, 5.9, NULL, NULL),
  ('RBC', NULL, 'F', NULL, NULL, '3.8~5.2', 3.8, 5.2, NULL, NULL),
  ('PLT', NULL, NULL, NULL, NULL, '150~400', 150, 400, 20, 1000),
  ('WBC', 'E052', NULL, NULL, NULL, '4.00~10.00', 4.00, 10.00, 1.00, 30.00),
  ('NEU#', 'E052', NULL, NULL, NULL, '2.00~7.00', 2.00, 7.00, NULL, NULL),
  ('LYM#', 'E052', NULL, NULL, NULL, '0.80~4.00', 0.80, 4.00, NULL, NULL),
  ('NEU%', 'E052', NULL, NULL, NULL, '50.0~70.0', 50.0, 70.0, NULL, NULL),
  ('LYM%', 'E052', NULL, NULL, NULL, '20.0~40.0', 20.0, 40.0, NULL, NULL),
  ('RBC', 'E052', 'F', NULL, NULL, '3.50~5.00', 3.50, 5.00, NULL, NULL),
  ('RBC', 'E052', 'M', NULL, NULL, '4.00~5.50', 4.00, 5.50, NULL, NULL),
  ('HGB', 'E052', 'F', NULL, NULL, '11.0~15.0', 11.0, 15.0, 7.0, 20.0),
  ('HGB', 'E052', 'M', NULL, NULL, '12.0~16.0', 12.0, 16.0, 7.0, 20.0),
  ('HCT', 'E052', 'F', NULL, NULL, '37.0~47.0', 37.0, 47.0, 20.0, 60.0),
  ('HCT', 'E052', 'M', NULL, NULL, '40.0~54.0', 40.0, 54.0, 20.0, 60.0),
  ('MCV', 'E052', NULL, NULL, NULL, '80.0~100.0', 80.0, 100.0, NULL, NULL),
  ('MCH', 'E052', NULL, NULL, NULL, '27.0~34.0', 27.0, 34.0, NULL, NULL),
  ('MCHC', 'E052', NULL, NULL, NULL, '32.0~36.0', 32.0, 36.0, NULL, NULL),
  ('RDW-CV', 'E052', NULL, NULL, NULL, '11.0~16.0', 11.0, 16.0, NULL, NULL),
  ('PLT', 'E052', NULL, NULL, NULL, '100~300', 100, 300, 20, 1000),
  ('MPV', 'E052', NULL, NULL, NULL, '6.5~12.0', 6.5, 12.0, NULL, NULL),
  ('GLU', NULL, NULL, NULL, NULL, '70~100', 70, 100, 40, 450),
  ('NA', NULL, NULL, NULL, NULL, '135~145', 135, 145, 120, 160),
  ('K', NULL, NULL, NULL, NULL, '3.5~5.1', 3.5, 5.1, 2.8, 6.2),
  ('CREA', NULL, 'M', NULL, NULL, '0.7~1.3', 0.7, 1.3, NULL, 10.0),
  ('CREA', NULL, 'F', NULL, NULL, '0.5~1.1', 0.5, 1.1, NULL, 10.0),
  ('ALP', NULL, NULL, 0, 18, '100~390', 100, 390, NULL, NULL),
  ('ALP', NULL, NULL, 18, NULL, '40~130', 40, 130, NULL, NULL),
  ('CRP', NULL, NULL, NULL, NULL, '<5', NULL, 5, NULL, NULL),
  ('TBIL', NULL, NULL, NULL, NULL, '0.2~1.2', 0.2, 1.2, NULL, 15.0),
  ('ALB', NULL, NULL, NULL, NULL, '3.5~5.2', 3.5, 5.2, NULL, NULL),
  ('U-PH', NULL, NULL, NULL, NULL, '5.0~8.0', 5.0, 8.0, NULL, NULL),
  ('U-SG', NULL, NULL, NULL, NULL, '1.005~1.030', 1.005, 1.030, NULL, NULL),
  ('U-PRO', NULL, NULL, NULL, NULL, 'Negative', NULL, NULL, NULL, NULL),
  ('U-GLU', NULL, NULL, NULL, NULL, 'Negative', NULL, NULL, NULL, NULL),
  ('U-BLD', NULL, NULL, NULL, NULL, 'Negative', NULL, NULL, NULL, NULL),
  ('U-LEU', NULL, NULL, NULL, NULL, 'Negative', NULL, NULL, NULL, NULL),
  ('HGB', 'E077', NULL, NULL, NULL, '11.2~17.2', 11.2, 17.2, NULL, NULL),
  ('WBC', 'E077', NULL, NULL, NULL, '3.2~10.2', 3.2, 10.2, NULL, NULL),
  ('K', 'E077', NULL, NULL, NULL, '3.5-5.0', 3.5, 5.0, NULL, NULL),
  ('CRP', 'E077', NULL, NULL, NULL, '<5', NULL, 5, NULL, NULL),
  ('CRP2', 'E077', NULL, NULL, NULL, '<5', NULL, 5, NULL, NULL),
  ('VITD', 'E077', NULL, NULL, NULL, '>=10', 10, NULL, NULL, NULL),
  ('VITD2', 'E077', NULL, NULL, NULL, '>=10', 10, NULL, NULL, NULL),
  ('GLU', 'E077', NULL, NULL, NULL, '70-100', 70, 100, NULL, NULL),
  ('GLU2', 'E077', NULL, NULL, NULL, '70-100', 70, 100, NULL, NULL),
  ('BE', 'E077', NULL, NULL, NULL, '-2.0-2.0', -2.0, 2.0, NULL, NULL),
  ('BE2', 'E077', NULL, NULL, NULL, '-2.0-2.0', -2.0, 2.0, NULL, NULL),
  ('ALB', 'E077', NULL, NULL, NULL, '0.5-', 0.5, NULL, NULL, NULL),
  ('TBIL', 'E077', NULL, NULL, NULL, '-1.0', NULL, 1.0, NULL, NULL),
  ('LDL', 'E077', NULL, NULL, NULL, '>5', 5, NULL, NULL, NULL),
  ('CREA', 'E077', NULL, NULL, NULL, '0.5 - 1.2', 0.5, 1.2, NULL, NULL),
  ('TROP', 'E077', NULL, NULL, NULL, '<=0.5', NULL, 0.5, NULL, NULL),
  ('K2', 'E077', NULL, NULL, NULL, '3.5-5.0 mmol/L', 3.5, 5.0, NULL, NULL),
  ('TSH', 'E077', NULL, NULL, NULL, '0,4-4,0', 0.4, 4.0, NULL, NULL),
  ('PLT', 'E077', NULL, NULL, NULL, '150~400', 150, 400, NULL, NULL);

INSERT INTO patients (patient_no, name, family_name, given_name, birth_date, age, sex, patient_class, ward, room) VALUES
  ('1234', '홍길동', '홍', '길동', '1959-03-15', 50, 'M', 'E', '1111', '2222'),
  ('3182', 'TESTC HANA', 'TESTC', 'HANA', '1963-06-01', 63, 'F', 'O', '2201', '3302'),
  ('5104', 'TESTD YERIN', 'TESTD', 'YERIN', '1999-04-02', 27, 'F', 'O', '2201', '3302'),
  ('5105', 'TESTE HAJUN', 'TESTE', 'HAJUN', '1964-01-20', 62, 'M', 'O', '2201', '3302'),
  ('5108', 'TESTH JUAN', 'TESTH', 'JUAN', '1955-07-07', 71, 'M', 'O', '2201', '3302'),
  ('5109', 'TESTI BOM', 'TESTI', 'BOM', '2007-03-03', 19, 'F', 'O', '2201', '3302'),
  ('5141', 'TESTL YOOJIN', 'TESTL', 'YOOJIN', '1987-05-05', 39, 'F', 'O', '2201', '3302'),
  ('5142', 'TESTS EUN', 'TESTS', 'EUN', '1969-08-08', 57, 'M', 'O', '2201', '3302'),
  ('5143', 'TESTX DOYUN', 'TESTX', 'DOYUN', NULL, NULL, NULL, 'O', '2201', '3302'),
  ('5145', 'TESTAB ROA', 'TESTAB', 'ROA', '1995-02-14', 31, 'F', 'O', '2201', '3302'),
  ('5146', 'TESTAC GYUL', 'TESTAC', 'GYUL', '1958-10-10', 68, 'M', 'O', '2201', '3302'),
  ('5161', 'TESTAE MAEUM', 'TESTAE', 'MAEUM', '1971-09-09', 55, 'F', 'O', '2201', '3302'),
  ('5172', '이하늘', '이', '하늘', '1974-04-04', 52, 'M', 'O', '2201', '3302'),
  ('5173', '강바다', '강', '바다', '1982-06-06', 44, 'F', 'O', '2201', '3302'),
  ('5191', 'TESTAK IRO', 'TESTAK', 'IRO', '1990-01-01', 36, 'F', 'O', '2201', '3302'),
  ('5192', 'TESTAL HAN', 'TESTAL', 'HAN', '1967-12-12', 59, 'M', 'O', '2201', '3302'),
  ('5201', 'TESTAM NARAE', 'TESTAM', 'NARAE', '1981-11-11', 45, 'F', 'O', '2201', '3302'),
  ('6101', '김민준', '김', '민준', '2018-05-20', 8, 'M', 'O', '4101', '07'),
  ('6102', '박서연', '박', '서연', '1959-02-28', 67, 'F', 'I', '3301', '12'),
  ('6103', '최지우', '최', '지우', '1992-07-17', 34, 'F', 'O', '2201', '3302'),
  ('6104', '정도윤', '정', '도윤', '1981-03-30', 45, 'M', 'E', '1111', '2223'),
  ('6106', 'O''Neil|Kim^Park&Lee~Choi\Jung', 'O''Neil', 'Kim', '1975-01-01', 51, 'U', 'O', '2201', '3302'),
  ('DK77001', 'SØNDERGÅRD ÆSA', 'SØNDERGÅRD', 'ÆSA', '1964-09-12', 62, 'F', 'O', 'W7', '1'),
  ('KR55501', 'TESTB JIWOO', 'TESTB', 'JIWOO', '1978-02-14', 48, 'M', 'O', 'W7', '1'),
  ('KR55801', 'TEST&SON ALEX', 'TEST&SON', 'ALEX', '1975-05-05', 51, 'M', 'O', 'W7', '1'),
  ('KR56001', 'TESTZ YUNA', 'TESTZ', 'YUNA', '1985-05-05', 41, 'F', 'O', 'W7', '1'),
  ('KR56002', 'TESTAA JUNHO', 'TESTAA', 'JUNHO', '1970-09-09', 56, 'M', 'O', 'W7', '1'),
  ('KR56101', 'TESTAG HARU', 'TESTAG', 'HARU', '1985-03-17', 41, 'F', 'O', 'W7', '1'),
  ('KR56102', 'TESTAH NOA', 'TESTAH', 'NOA', '2000-02-29', 26, 'M', 'O', 'W7', '1');

INSERT INTO specimens (barcode, patient_no, collected_at) VALUES
  ('107558', '1234', '2009-09-27 15:10:00'),
  ('318204', '3182', '2026-11-02 09:14:00'),
  ('410024', '5104', '2026-11-02 10:05:00'),
  ('410025', '5105', '2026-11-02 10:06:00'),
  ('410028', '5108', '2026-11-02 10:25:00'),
  ('410029', '5109', '2026-11-02 10:26:00'),
  ('410041', '5141', '2026-11-02 10:55:00'),
  ('410042', '5142', '2026-11-02 12:00:00'),
  ('410043', '5143', '2026-11-02 11:50:00'),
  ('410045', '5145', '2026-11-02 13:05:00'),
  ('410046', '5146', '2026-11-02 13:06:00'),
  ('410061', '5161', '2026-11-02 13:20:00'),
  ('410072', '5172', '2026-11-02 14:05:00'),
  ('410073', '5173', '2026-11-02 14:06:00'),
  ('410091', '5191', '2026-11-02 15:40:00'),
  ('410092', '5192', '2026-11-02 15:41:00'),
  ('410101', '5201', '2026-11-02 14:50:00'),
  ('500101', '6101', '2026-11-03 08:10:00'),
  ('500102', '6102', '2026-11-03 08:20:00'),
  ('500103', '6103', '2026-11-03 08:30:00'),
  ('500104', '6104', '2026-11-03 08:40:00'),
  ('500106', '6106', '2026-11-03 08:50:00'),
  ('DK77001', 'DK77001', '2026-11-02 14:15:00'),
  ('KR55501', 'KR55501', '2026-11-02 10:05:00'),
  ('KR55801', 'KR55801', '2026-11-02 11:25:00'),
  ('KR56001', 'KR56001', '2026-11-02 12:00:00'),
  ('KR56002', 'KR56002', '2026-11-02 12:05:00'),
  ('KR56101', 'KR56101', '2026-11-02 08:15:00'),
  ('KR56102', 'KR56102', '2026-03-08 01:25:00');

INSERT INTO orders (barcode, test_code, seq, obx13) VALUES
  ('107558', 'HGB', 1, 'P'),
  ('107558', 'HCT', 2, 'P'),
  ('107558', 'RBC', 3, 'Q'),
  ('107558', 'WBC', 4, 'Q'),
  ('107558', 'GLU', 5, 'P'),
  ('107558', 'K', 6, 'P'),
  ('318204', 'SPIRO', 1, 'P'),
  ('410024', 'HGB', 1, 'P'),
  ('410024', 'HCT', 2, 'P'),
  ('410024', 'RBC', 3, 'Q'),
  ('410024', 'WBC', 4, 'Q'),
  ('410025', 'HGB', 1, 'P'),
  ('410025', 'HCT', 2, 'P'),
  ('410025', 'RBC', 3, 'Q'),
  ('410025', 'WBC', 4, 'Q'),
  ('410028', 'HGB', 1, 'P'),
  ('410028', 'HCT', 2, 'P'),
  ('410028', 'RBC', 3, 'Q'),
  ('410028', 'WBC', 4, 'Q'),
  ('410029', 'HGB', 1, 'P'),
  ('410029', 'HCT', 2, 'P'),
  ('410029', 'RBC', 3, 'Q'),
  ('410029', 'WBC', 4, 'Q'),
  ('410041', 'HGB', 1, 'P'),
  ('410041', 'HCT', 2, 'P'),
  ('410041', 'RBC', 3, 'Q'),
  ('410041', 'WBC', 4, 'Q'),
  ('410042', 'HGB', 1, 'P'),
  ('410042', 'HCT', 2, 'P'),
  ('410042', 'RBC', 3, 'Q'),
  ('410042', 'WBC', 4, 'Q'),
  ('410045', 'HGB', 1, 'P'),
  ('410045', 'HCT', 2, 'P'),
  ('410045', 'RBC', 3, 'Q'),
  ('410045', 'WBC', 4, 'Q'),
  ('410046', 'HGB', 1, 'P'),
  ('410046', 'HCT', 2, 'P'),
  ('410046', 'RBC', 3, 'Q'),
  ('410046', 'WBC', 4, 'Q'),
  ('410072', 'HGB', 1, 'P'),
  ('410072', 'HCT', 2, 'P'),
  ('410072', 'RBC', 3, 'Q'),
  ('410072', 'WBC', 4, 'Q'),
  ('410073', 'HGB', 1, 'P'),
  ('410073', 'HCT', 2, 'P'),
  ('410073', 'RBC', 3, 'Q'),
  ('410073', 'WBC', 4, 'Q'),
  ('410091', 'HGB', 1, 'P'),
  ('410091', 'HCT', 2, 'P'),
  ('410091', 'RBC', 3, 'Q'),
  ('410091', 'WBC', 4, 'Q'),
  ('410092', 'HGB', 1, 'P'),
  ('410092', 'HCT', 2, 'P'),
  ('410092', 'RBC', 3, 'Q'),
  ('410092', 'WBC', 4, 'Q'),
  ('410043', 'HGB', 1, 'P'),
  ('410043', 'HCT', 2, 'P'),
  ('410043', 'RBC', 3, 'Q'),
  ('410043', 'WBC', 4, 'Q'),
  ('410043', 'PLT', 5, 'Q'),
  ('410061', 'HGB', 1, 'P'),
  ('410061', 'WBC', 2, 'P'),
  ('410061', 'K', 3, 'P'),
  ('410061', 'CRP', 4, 'P'),
  ('410061', 'CRP2', 5, 'P'),
  ('410061', 'VITD', 6, 'P'),
  ('410061', 'VITD2', 7, 'P'),
  ('410061', 'GLU', 8, 'P'),
  ('410061', 'GLU2', 9, 'P'),
  ('410061', 'BE', 10, 'P'),
  ('410061', 'BE2', 11, 'P'),
  ('410061', 'ALB', 12, 'P'),
  ('410061', 'TBIL', 13, 'P'),
  ('410061', 'LDL', 14, 'P'),
  ('410061', 'CREA', 15, 'P'),
  ('410061', 'TROP', 16, 'P'),
  ('410061', 'K2', 17, 'P'),
  ('410061', 'TSH', 18, 'P'),
  ('410061', 'PLT', 19, 'P'),
  ('410101', 'WBC', 1, 'Q'),
  ('410101', 'NEU#', 2, 'Q'),
  ('410101', 'LYM#', 3, 'Q'),
  ('410101', 'NEU%', 4, 'Q'),
  ('410101', 'LYM%', 5, 'Q'),
  ('410101', 'RBC', 6, 'Q'),
  ('410101', 'HGB', 7, 'Q'),
  ('410101', 'HCT', 8, 'Q'),
  ('410101', 'MCV', 9, 'Q'),
  ('410101', 'MCH', 10, 'Q'),
  ('410101', 'MCHC', 11, 'Q'),
  ('410101', 'RDW-CV', 12, 'Q'),
  ('410101', 'PLT', 13, 'Q'),
  ('410101', 'MPV', 14, 'Q'),
  ('410101', 'H-NR%', 15, 'Q'),
  ('500101', 'HGB', 1, 'P'),
  ('500101', 'WBC', 2, 'P'),
  ('500101', 'ALP', 3, 'Q'),
  ('500101', 'CREA', 4, 'Q'),
  ('500102', 'GLU', 1, 'P'),
  ('500102', 'NA', 2, 'P'),
  ('500102', 'K', 3, 'P'),
  ('500102', 'CREA', 4, 'P'),
  ('500102', 'TBIL', 5, 'Q'),
  ('500103', 'U-PH', 1, 'P'),
  ('500103', 'U-SG', 2, 'P'),
  ('500103', 'U-PRO', 3, 'P'),
  ('500103', 'U-GLU', 4, 'P'),
  ('500103', 'U-BLD', 5, 'P'),
  ('500103', 'U-LEU', 6, 'P'),
  ('500104', 'WBC', 1, 'Q'),
  ('500104', 'RBC', 2, 'Q'),
  ('500104', 'HGB', 3, 'Q'),
  ('500104', 'HCT', 4, 'Q'),
  ('500104', 'PLT', 5, 'Q'),
  ('500104', 'MCV', 6, 'Q'),
  ('500106', 'HGB', 1, 'P'),
  ('500106', 'HCT', 2, 'P'),
  ('500106', 'RBC', 3, 'Q'),
  ('500106', 'WBC', 4, 'Q'),
  ('DK77001', 'NA', 1, 'P'),
  ('DK77001', 'K', 2, 'P');

COMMIT;
