-- Views over the webhook table `data`, one per channel, for target-sqlite's
-- database (the `make run` default, customerio.db):
--
--   sqlite3 customerio.db < analytics/sqlite/webhook_views.sql
--
-- The same views as analytics/postgres/webhook_views.sql, with SQLite types:
-- occurred_at is UTC text ('YYYY-MM-DD HH:MM:SS'), occurred_unix its Unix
-- seconds, JSON stays JSON text (read it with json_extract). Idempotent:
-- SQLite has no CREATE OR REPLACE VIEW, so each view is dropped first.
-- Values that are not what they should be (an id "x", a timestamp
-- "invalid timestamp format") read as NULL, never as an error.

DROP VIEW IF EXISTS cio_email;
DROP VIEW IF EXISTS cio_push;
DROP VIEW IF EXISTS cio_push_devices;
DROP VIEW IF EXISTS cio_sms;
DROP VIEW IF EXISTS cio_in_app;
DROP VIEW IF EXISTS cio_webhook;
DROP VIEW IF EXISTS cio_slack;
DROP VIEW IF EXISTS cio_customer;
DROP VIEW IF EXISTS cio_events;

-- cio_events: every event with the fields all channels share. The inner
-- query picks the raw values, the outer one types them.
CREATE VIEW cio_events AS
SELECT
  event_id,
  coalesce(object_type, object_type_type,
           CASE WHEN instr(event_type, '_') > 1 THEN substr(event_type, 1, instr(event_type, '_') - 1) END) AS object_type,
  coalesce(metric,
           CASE WHEN instr(event_type, '_') > 1 THEN substr(event_type, instr(event_type, '_') + 1) END) AS metric,
  CASE WHEN ts GLOB '[0-9]*' AND ts NOT GLOB '*[^0-9]*' AND length(ts) <= 11 THEN datetime(CAST(ts AS INTEGER), 'unixepoch') END AS occurred_at,
  CASE WHEN ts GLOB '[0-9]*' AND ts NOT GLOB '*[^0-9]*' AND length(ts) <= 11 THEN CAST(ts AS INTEGER) END AS occurred_unix,
  _sdc_extracted_at AS received_at,
  coalesce(json_extract(d, '$.identifiers.id'), nullif(json_extract(d, '$.customer_id'), '')) AS customer_id,
  json_extract(d, '$.identifiers.cio_id') AS cio_id,
  json_extract(d, '$.identifiers.email') AS customer_email,
  coalesce(json_extract(d, '$.delivery_id'), json_extract(d, '$.variables.delivery_id'), json_extract(d, '$.email_id')) AS delivery_id,
  CASE WHEN campaign_id GLOB '[0-9]*' AND campaign_id NOT GLOB '*[^0-9]*' THEN CAST(campaign_id AS INTEGER) END AS campaign_id,
  CASE WHEN action_id GLOB '[0-9]*' AND action_id NOT GLOB '*[^0-9]*' THEN CAST(action_id AS INTEGER) END AS action_id,
  CASE WHEN parent_action_id GLOB '[0-9]*' AND parent_action_id NOT GLOB '*[^0-9]*' THEN CAST(parent_action_id AS INTEGER) END AS parent_action_id,
  json_extract(d, '$.journey_id') AS journey_id,
  json_extract(d, '$.trigger_event_id') AS trigger_event_id,
  CASE WHEN broadcast_id GLOB '[0-9]*' AND broadcast_id NOT GLOB '*[^0-9]*' THEN CAST(broadcast_id AS INTEGER) END AS broadcast_id,
  CASE WHEN trigger_id GLOB '[0-9]*' AND trigger_id NOT GLOB '*[^0-9]*' THEN CAST(trigger_id AS INTEGER) END AS trigger_id,
  CASE WHEN newsletter_id GLOB '[0-9]*' AND newsletter_id NOT GLOB '*[^0-9]*' THEN CAST(newsletter_id AS INTEGER) END AS newsletter_id,
  CASE WHEN content_id GLOB '[0-9]*' AND content_id NOT GLOB '*[^0-9]*' THEN CAST(content_id AS INTEGER) END AS content_id,
  CASE WHEN transactional_message_id GLOB '[0-9]*' AND transactional_message_id NOT GLOB '*[^0-9]*' THEN CAST(transactional_message_id AS INTEGER) END AS transactional_message_id,
  json_extract(d, '$.recipient') AS recipient,
  json_extract(d, '$.href') AS href,
  CASE WHEN link_id GLOB '[0-9]*' AND link_id NOT GLOB '*[^0-9]*' THEN CAST(link_id AS INTEGER) END AS link_id,
  json_extract(d, '$.failure_message') AS failure_message,
  json_extract(d, '$.content') AS content,
  event_type IS NOT NULL AND metric IS NULL AS legacy_format,
  data
FROM (
  SELECT x.*,
    CASE WHEN json_valid(x."timestamp") THEN json_extract(x."timestamp", '$') END AS ts,
    json_extract(x.d, '$.campaign_id') AS campaign_id,
    json_extract(x.d, '$.action_id') AS action_id,
    json_extract(x.d, '$.parent_action_id') AS parent_action_id,
    json_extract(x.d, '$.broadcast_id') AS broadcast_id,
    json_extract(x.d, '$.trigger_id') AS trigger_id,
    json_extract(x.d, '$.newsletter_id') AS newsletter_id,
    json_extract(x.d, '$.content_id') AS content_id,
    json_extract(x.d, '$.transactional_message_id') AS transactional_message_id,
    json_extract(x.d, '$.link_id') AS link_id
  -- d: the payload's data when it is a JSON object, else an empty one.
  FROM (SELECT e.*, CASE WHEN json_valid(e.data) AND json_type(e.data) = 'object' THEN e.data ELSE '{}' END AS d
        FROM data e) x
);

CREATE VIEW cio_email AS
SELECT e.*,
  CASE WHEN instr(recipient_address, '@') > 0 THEN substr(recipient_address, instr(recipient_address, '@') + 1) END AS recipient_domain,
  json_extract(data, '$.subject') AS subject,
  json_extract(data, '$.machine') AS machine,
  json_extract(data, '$.proxied') AS proxied,
  json_extract(data, '$.prefetched') AS prefetched,
  json_extract(data, '$.synthetic') AS synthetic,
  json_extract(data, '$.headers') AS headers,
  json_extract(data, '$.campaign_name') AS campaign_name,
  json_extract(data, '$.message_name') AS message_name,
  json_extract(data, '$.template_id') AS template_id
FROM (
  -- recipient may be "Name <address>"; legacy events name it email_address.
  SELECT e.*,
    lower(trim(CASE WHEN instr(r, '<') > 0 AND instr(r, '>') > instr(r, '<')
                    THEN substr(r, instr(r, '<') + 1, instr(r, '>') - instr(r, '<') - 1) ELSE r END)) AS recipient_address
  FROM (SELECT e.*, coalesce(e.recipient, CASE WHEN e.legacy_format THEN json_extract(e.data, '$.email_address') END) AS r
        FROM cio_events e WHERE e.object_type = 'email') e
) e;

CREATE VIEW cio_push AS
SELECT e.*,
  json_extract(data, '$.recipients') AS recipients,
  CASE WHEN json_type(data, '$.recipients') = 'array' THEN json_array_length(data, '$.recipients') END AS device_count,
  json_extract(data, '$.recipients[0].device_id') AS device_id,
  json_extract(data, '$.recipients[0].device_platform') AS device_platform
FROM cio_events e
WHERE e.object_type = 'push';

CREATE VIEW cio_push_devices AS
SELECT e.event_id, e.metric, e.occurred_at, e.customer_id, e.delivery_id,
  e.campaign_id, e.broadcast_id, e.newsletter_id, e.transactional_message_id,
  r.key + 1 AS device_index,
  json_extract(r.value, '$.device_id') AS device_id,
  json_extract(r.value, '$.device_platform') AS device_platform,
  coalesce(json_extract(r.value, '$.failure_message'), e.failure_message) AS failure_message
FROM cio_events e, json_each(CASE WHEN json_type(e.data, '$.recipients') = 'array' THEN json_extract(e.data, '$.recipients') ELSE '[]' END) r
WHERE e.object_type = 'push' AND json_type(r.value) = 'object';

CREATE VIEW cio_sms AS
SELECT e.*,
  json_extract(data, '$.inbound_event_id') AS inbound_event_id,
  json_extract(data, '$.to') AS replied_to
FROM cio_events e
WHERE e.object_type IN ('sms', 'whatsapp');

CREATE VIEW cio_in_app AS
SELECT e.*, json_extract(data, '$.tracked_response') AS tracked_response
FROM cio_events e
WHERE e.object_type = 'in_app';

CREATE VIEW cio_webhook AS SELECT e.* FROM cio_events e WHERE e.object_type = 'webhook';

CREATE VIEW cio_slack AS SELECT e.* FROM cio_events e WHERE e.object_type = 'slack';

CREATE VIEW cio_customer AS
SELECT e.*,
  json_extract(data, '$.email_address') AS email_address,
  CASE WHEN e.metric = 'cio_subscription_preferences_changed' THEN e.content END AS preferences_json
FROM cio_events e
WHERE e.object_type = 'customer'
   OR e.metric IN ('subscribed', 'cio_subscription_preferences_changed');
