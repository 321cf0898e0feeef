-- Views over the webhook table `data`, one per channel, for PostgreSQL.
--
--   psql "$DSN" -v ON_ERROR_STOP=1 -v schema=customerio -f analytics/postgres/webhook_views.sql
--
-- `schema` is target-postgres's default_target_schema (default here: customerio).
-- Idempotent (CREATE OR REPLACE): run it again after every upgrade of this file.
-- Rows are one per event_id (target-postgres upserts on the key), so no view
-- needs to de-duplicate. Both payload formats are read: the current one
-- (object_type + metric) and the legacy "Email Activity Webhook" one
-- (event_type = '<object_type>_<metric>').

\if :{?schema}
\else
\set schema customerio
\endif
SET search_path TO :"schema";

-- cio_bigint: an id sent as a number or as a numeric string ("14" in the
-- legacy format); NULL for anything else instead of a failed query.
CREATE OR REPLACE FUNCTION cio_bigint(v jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN v #>> '{}' ~ '^\s*-?[0-9]{1,18}\s*$' THEN (v #>> '{}')::bigint END
$$;

-- cio_unix_time: Unix seconds sent as a number or a numeric string (test
-- events) as timestamptz; NULL for anything else.
CREATE OR REPLACE FUNCTION cio_unix_time(v jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN v #>> '{}' ~ '^\s*-?[0-9]{1,11}(\.[0-9]+)?\s*$' THEN to_timestamp((v #>> '{}')::double precision) END
$$;

-- cio_bool: a JSON boolean, NULL for anything else.
CREATE OR REPLACE FUNCTION cio_bool(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(v) = 'boolean' THEN (v #>> '{}')::boolean END
$$;

-- cio_events: every event with the fields all channels share.
CREATE OR REPLACE VIEW cio_events AS
SELECT
  e.event_id,
  coalesce(e.object_type, e.object_type_type,
           CASE WHEN strpos(e.event_type, '_') > 1 THEN split_part(e.event_type, '_', 1) END) AS object_type,
  coalesce(e.metric,
           CASE WHEN strpos(e.event_type, '_') > 1 THEN substr(e.event_type, strpos(e.event_type, '_') + 1) END) AS metric,
  cio_unix_time(e."timestamp") AS occurred_at,
  e._sdc_extracted_at AS received_at,
  coalesce(e.data #>> '{identifiers,id}', nullif(e.data ->> 'customer_id', '')) AS customer_id,
  e.data #>> '{identifiers,cio_id}' AS cio_id,
  e.data #>> '{identifiers,email}' AS customer_email,
  coalesce(e.data ->> 'delivery_id', e.data #>> '{variables,delivery_id}', e.data ->> 'email_id') AS delivery_id,
  cio_bigint(e.data -> 'campaign_id') AS campaign_id,
  cio_bigint(e.data -> 'action_id') AS action_id,
  cio_bigint(e.data -> 'parent_action_id') AS parent_action_id,
  e.data ->> 'journey_id' AS journey_id,
  e.data ->> 'trigger_event_id' AS trigger_event_id,
  cio_bigint(e.data -> 'broadcast_id') AS broadcast_id,
  cio_bigint(e.data -> 'trigger_id') AS trigger_id,
  cio_bigint(e.data -> 'newsletter_id') AS newsletter_id,
  cio_bigint(e.data -> 'content_id') AS content_id,
  cio_bigint(e.data -> 'transactional_message_id') AS transactional_message_id,
  e.data ->> 'recipient' AS recipient,
  e.data ->> 'href' AS href,
  cio_bigint(e.data -> 'link_id') AS link_id,
  e.data ->> 'failure_message' AS failure_message,
  e.data ->> 'content' AS content,
  e.event_type IS NOT NULL AND e.metric IS NULL AS legacy_format,
  e.data
FROM data e;

-- One view per channel: every cio_events column, then the channel's own.
-- Customer.io sends only the fields of the metric, so the others are NULL.

CREATE OR REPLACE VIEW cio_email AS
SELECT e.*,
  a.address AS recipient_address,
  substring(a.address FROM '@([^@]+)$') AS recipient_domain,
  e.data ->> 'subject' AS subject,
  cio_bool(e.data -> 'machine') AS machine,
  cio_bool(e.data -> 'proxied') AS proxied,
  cio_bool(e.data -> 'prefetched') AS prefetched,
  cio_bool(e.data -> 'synthetic') AS synthetic,
  e.data -> 'headers' AS headers,
  e.data ->> 'campaign_name' AS campaign_name,
  e.data ->> 'message_name' AS message_name,
  cio_bigint(e.data -> 'template_id') AS template_id
FROM cio_events e
-- recipient may be "Name <address>"; legacy events name it email_address.
CROSS JOIN LATERAL (
  SELECT lower(btrim(coalesce(substring(r FROM '<([^<>]*)>\s*$'), r))) AS address
  FROM (SELECT coalesce(e.recipient, CASE WHEN e.legacy_format THEN e.data ->> 'email_address' END) AS r) rr
) a
WHERE e.object_type = 'email';

CREATE OR REPLACE VIEW cio_push AS
SELECT e.*,
  e.data -> 'recipients' AS recipients,
  CASE WHEN jsonb_typeof(e.data -> 'recipients') = 'array' THEN jsonb_array_length(e.data -> 'recipients') END AS device_count,
  e.data #>> '{recipients,0,device_id}' AS device_id,
  e.data #>> '{recipients,0,device_platform}' AS device_platform
FROM cio_events e
WHERE e.object_type = 'push';

-- cio_push_devices: one row per push event and device, with the device's
-- own failure_message (bounced and dropped pushes carry one per device).
CREATE OR REPLACE VIEW cio_push_devices AS
SELECT e.event_id, e.metric, e.occurred_at, e.customer_id, e.delivery_id,
  e.campaign_id, e.broadcast_id, e.newsletter_id, e.transactional_message_id,
  r.n AS device_index,
  r.device ->> 'device_id' AS device_id,
  r.device ->> 'device_platform' AS device_platform,
  coalesce(r.device ->> 'failure_message', e.failure_message) AS failure_message
FROM cio_events e
CROSS JOIN LATERAL jsonb_array_elements(
  CASE WHEN jsonb_typeof(e.data -> 'recipients') = 'array' THEN e.data -> 'recipients' ELSE '[]'::jsonb END
) WITH ORDINALITY AS r(device, n)
WHERE e.object_type = 'push';

-- cio_sms: SMS and WhatsApp (Customer.io reports WhatsApp sent through
-- Twilio as sms, native WhatsApp as whatsapp; object_type tells them apart).
CREATE OR REPLACE VIEW cio_sms AS
SELECT e.*,
  e.data ->> 'inbound_event_id' AS inbound_event_id,
  e.data ->> 'to' AS replied_to
FROM cio_events e
WHERE e.object_type IN ('sms', 'whatsapp');

CREATE OR REPLACE VIEW cio_in_app AS
SELECT e.*,
  e.data ->> 'tracked_response' AS tracked_response
FROM cio_events e
WHERE e.object_type = 'in_app';

CREATE OR REPLACE VIEW cio_webhook AS
SELECT e.* FROM cio_events e WHERE e.object_type = 'webhook';

CREATE OR REPLACE VIEW cio_slack AS
SELECT e.* FROM cio_events e WHERE e.object_type = 'slack';

-- cio_customer: subscription events. A message can cause them, and then
-- object_type names its channel (email subscribed, preferences changed from
-- a campaign's link), so they are picked by metric as well.
CREATE OR REPLACE VIEW cio_customer AS
SELECT e.*,
  e.data ->> 'email_address' AS email_address,
  CASE WHEN e.metric = 'cio_subscription_preferences_changed' THEN e.content END AS preferences_json
FROM cio_events e
WHERE e.object_type = 'customer'
   OR e.metric IN ('subscribed', 'cio_subscription_preferences_changed');
