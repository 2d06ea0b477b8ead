-- One point (indicator, initiative, geography, period) may have several sources: each is its
-- own series, never merged. The headline rule picks the one a briefing shows first:
--   1. the indicator's preferred_source;
--   2. else primary over secondary over unspecified (sources.kind; synthetic last);
--   3. else the newest published (sources.published; unknown dates last);
--   4. else the smallest source id, so the pick never depends on row order.
-- `headline_order` is that rule as one sortable value: ORDER BY it ascending, first wins.
-- `tracker ingest` (second sources), the briefings and `headline_values` all use it.
CREATE OR REPLACE MACRO headline_order(source, preferred_source, kind, published) AS
struct_pack(
    not_preferred := source IS DISTINCT FROM preferred_source,
    kind_rank := CASE kind WHEN 'primary' THEN 0 WHEN 'secondary' THEN 1
                           WHEN 'unspecified' THEN 2 ELSE 3 END,
    days_old := coalesce(DATE '9999-12-31' - published, 2147483647),
    source := source
);

-- The headline of each point of latest_values: the newest period of each series, one row
-- per point with the source the rule picks, how many sources give the point
-- (`source_count`, `sources` in headline order) and `spread`: the largest gap between the
-- headline and another source's value of the same currency, as a share of the headline
-- (NULL with one source, or when the headline is 0).
CREATE OR REPLACE VIEW headline_values AS
WITH ranked AS (
    SELECT l.*, s.kind AS source_kind, s.published AS source_published,
           headline_order(l.source, i.preferred_source, s.kind, s.published) AS rank_key
    FROM latest_values AS l
    JOIN indicators AS i ON i.id = l.indicator
    LEFT JOIN sources AS s ON s.id = l.source
),
compared AS (
    SELECT r.*,
           first_value(r.value) OVER by_rank AS headline_value,
           first_value(r.currency) OVER by_rank AS headline_currency,
           row_number() OVER by_rank AS headline_rank
    FROM ranked AS r
    WINDOW by_rank AS (
        PARTITION BY r.indicator, r.initiative, r.geography, r.period ORDER BY r.rank_key
    )
)
SELECT c.indicator, c.initiative, c.geography, c.period, c.period_start, c.period_end,
       c.value, c.qualifier, c.currency, c.unit, c.measure, c.source, c.source_kind,
       c.source_published, c.note, c.recorded_at, c.context,
       count(*) OVER same_point AS source_count,
       list(c.source ORDER BY c.rank_key) OVER same_point AS sources,
       -- a gap only between figures in one currency: EUR 179 bn and USD 190 bn are not 6 % apart
       max(CASE WHEN c.headline_rank > 1
                     AND c.currency IS NOT DISTINCT FROM c.headline_currency
                     AND c.headline_value <> 0
                THEN abs(c.value - c.headline_value) / abs(c.headline_value) END
       ) OVER same_point AS spread
FROM compared AS c
WINDOW same_point AS (PARTITION BY c.indicator, c.initiative, c.geography, c.period)
QUALIFY c.headline_rank = 1;
