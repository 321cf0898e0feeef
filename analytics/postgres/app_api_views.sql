-- Views over the App API tables (deliveries and the name tables), for
-- PostgreSQL. Apply after webhook_views.sql:
--
--   psql "$DSN" -v ON_ERROR_STOP=1 -v schema=customerio -f analytics/postgres/app_api_views.sql
--
-- These tables exist only once the tap has run with app_api_key set; until
-- then this file prints a notice and creates nothing, so it is safe to
-- apply everywhere (run it again once they exist). Idempotent.

\if :{?schema}
\else
\set schema customerio
\endif
SET search_path TO :"schema";

SELECT count(*) = 5 AS cio_have_app_api
FROM information_schema.tables
WHERE table_schema = :'schema'
  AND table_name IN ('deliveries', 'campaigns', 'broadcasts', 'newsletters', 'transactional_messages')
\gset

\if :cio_have_app_api

-- cio_deliveries: one row per message delivery, the first time it reached
-- each metric as timestamptz, and the names of its campaign, broadcast or
-- newsletter.
CREATE OR REPLACE VIEW cio_deliveries AS
SELECT
  d.id AS delivery_id,
  d.type AS channel,
  to_timestamp(d.created) AS created_at,
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
  d.customer_identifiers ->> 'cio_id' AS cio_id,
  d.recipient,
  substring(lower(d.recipient) FROM '@([^@>]+)>?\s*$') AS recipient_domain,
  d.subject,
  d.failure_message,
  cio_unix_time(d.metrics -> 'drafted') AS drafted_at,
  cio_unix_time(d.metrics -> 'attempted') AS attempted_at,
  cio_unix_time(d.metrics -> 'sent') AS sent_at,
  cio_unix_time(d.metrics -> 'delivered') AS delivered_at,
  cio_unix_time(d.metrics -> 'opened') AS opened_at,
  cio_unix_time(d.metrics -> 'human_opened') AS human_opened_at,
  cio_unix_time(d.metrics -> 'clicked') AS clicked_at,
  cio_unix_time(d.metrics -> 'human_clicked') AS human_clicked_at,
  cio_unix_time(d.metrics -> 'converted') AS converted_at,
  cio_unix_time(d.metrics -> 'bounced') AS bounced_at,
  cio_unix_time(d.metrics -> 'dropped') AS dropped_at,
  cio_unix_time(d.metrics -> 'spammed') AS spammed_at,
  cio_unix_time(d.metrics -> 'failed') AS failed_at,
  cio_unix_time(d.metrics -> 'undeliverable') AS undeliverable_at,
  cio_unix_time(d.metrics -> 'unsubscribed') AS unsubscribed_at,
  d.metrics,
  d.forgotten
FROM deliveries d
LEFT JOIN campaigns c ON c.id = d.campaign_id
LEFT JOIN broadcasts b ON b.id = d.broadcast_id
LEFT JOIN newsletters n ON n.id = d.newsletter_id;

-- cio_events_named: every webhook event with the name of the campaign,
-- broadcast, newsletter or transactional message that sent it.
CREATE OR REPLACE VIEW cio_events_named AS
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

\else
\echo 'notice: no App API tables (deliveries, campaigns, broadcasts, newsletters, transactional_messages) in schema' :'schema' '- cio_deliveries and cio_events_named not created; apply this file again after a run with app_api_key'
\endif
