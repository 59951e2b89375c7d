-- name: report_close
-- grain: DDL: drops the TEMP tables report_scope.sql and report_history.sql filled
-- Run once every job on them has (queries.close_window): their memory goes back to
-- DuckDB before the rule suggestion groups the store, instead of adding to its peak.
DROP TABLE IF EXISTS report_scope;
DROP TABLE IF EXISTS report_history;
