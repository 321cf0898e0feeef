-- Views over the App API tables (deliveries and the name tables) for
-- target-sqlite's database; apply after webhook_views.sql:
--
--   sqlite3 customerio.db < analytics/sqlite/app_api_views.sql
--
-- SQLite creates them even before the tables exist (a run with
-- app_api_key set creates them); querying them fails until then. Times are
-- UTC text, as in webhook_views.sql. Idempotent.

DROP VIEW IF EXISTS cio_deliveries;
DROP VIEW IF EXISTS cio_events_named;

-- cio_deliveries: one row per message delivery, the first time it reached
-- each metric, and the names of its campaign, broadcast or newsletter.
CREATE VIEW cio_deliveries AS
SELECT
  d.id AS delivery_id,
  d.type AS channel,
  datetime(d.created, 'unixepoch') AS created_at,
  d.campaign_id,
  c.name AS campaign_name,
  d.action_id,
  d.parent_action_id,
  d.broadcast_id,
  b.name AS broadcast_name,
  d.newsletter_id,
  n.name AS newsletter_name,
  d.content_id,
  coalesce(c.name, b.name, n.name) AS message_name,
  d.customer_id,
  json_extract(d.customer_identifiers, '$.cio_id') AS cio_id,
  d.recipient,
  CASE WHEN instr(d.recipient, '@') > 0 THEN rtrim(lower(substr(d.recipient, instr(d.recipient, '@') + 1)), '> ') END AS recipient_domain,
  d.subject,
  d.failure_message,
  datetime(json_extract(d.metrics, '$.drafted'), 'unixepoch') AS drafted_at,
  datetime(json_extract(d.metrics, '$.attempted'), 'unixepoch') AS attempted_at,
  datetime(json_extract(d.metrics, '$.sent'), 'unixepoch') AS sent_at,
  datetime(json_extract(d.metrics, '$.delivered'), 'unixepoch') AS delivered_at,
  datetime(json_extract(d.metrics, '$.opened'), 'unixepoch') AS opened_at,
  datetime(json_extract(d.metrics, '$.human_opened'), 'unixepoch') AS human_opened_at,
  datetime(json_extract(d.metrics, '$.clicked'), 'unixepoch') AS clicked_at,
  datetime(json_extract(d.metrics, '$.human_clicked'), 'unixepoch') AS human_clicked_at,
  datetime(json_extract(d.metrics, '$.converted'), 'unixepoch') AS converted_at,
  datetime(json_extract(d.metrics, '$.bounced'), 'unixepoch') AS bounced_at,
  datetime(json_extract(d.metrics, '$.dropped'), 'unixepoch') AS dropped_at,
  datetime(json_extract(d.metrics, '$.spammed'), 'unixepoch') AS spammed_at,
  datetime(json_extract(d.metrics, '$.failed'), 'unixepoch') AS failed_at,
  datetime(json_extract(d.metrics, '$.undeliverable'), 'unixepoch') AS undeliverable_at,
  datetime(json_extract(d.metrics, '$.unsubscribed'), 'unixepoch') AS unsubscribed_at,
  d.metrics,
  d.forgotten
FROM deliveries d
LEFT JOIN campaigns c ON c.id = d.campaign_id
LEFT JOIN broadcasts b ON b.id = d.broadcast_id
LEFT JOIN newsletters n ON n.id = d.newsletter_id;

-- cio_events_named: every webhook event with the name of what sent it.
CREATE VIEW cio_events_named AS
SELECT e.*,
  c.name AS campaign_name,
  b.name AS broadcast_name,
  n.name AS newsletter_name,
  t.name AS transactional_message_name,
  coalesce(c.name, b.name, n.name, t.name) AS message_name
FROM cio_events e
LEFT JOIN campaigns c ON c.id = e.campaign_id
LEFT JOIN broadcasts b ON b.id = e.broadcast_id
LEFT JOIN newsletters n ON n.id = e.newsletter_id
LEFT JOIN transactional_messages t ON t.id = e.transactional_message_id;
