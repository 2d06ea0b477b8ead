-- The fx_rates.csv rows of source `ecb-eurofxref-hist` (see data/README.md): annual means of
-- the ECB's daily euro reference rates in its eurofxref-hist.csv (units of each currency per
-- euro, one row a TARGET day, `N/A` where the ECB gave no rate). Run in the folder holding
-- that file (unzipped), with the DuckDB CLI the project installs:
--
--   cd folder-of-eurofxref-hist.csv
--   /path/to/tracker/.venv/bin/duckdb -csv -noheader < /path/to/data/reference/eurofxref_annual_rates.sql
--
-- It prints the rows in fx_rates.csv's columns (currency, year, usd_per_unit, source, note),
-- the euro's first, then each other currency's, by year. A year is used only when it is
-- whole in the file for the US dollar and the currency: a rate on every day the file has in
-- that year, from the first week of January to the last week of December, at least 200 days
-- (the ECB publishes on about 255 days a year). Any currency-year of `wanted` that is not
-- stops the query with an error naming it, and nothing is printed.
--
-- The euro's rate is the mean USD per EUR of the year's days. Another currency's is a cross
-- rate through the euro: mean USD per EUR / mean currency per EUR of the same days. Each
-- note gives the number of days and the means (5 decimals); usd_per_unit is given to 6
-- significant digits.
WITH wanted (currency, first_year, last_year) AS (
    -- EUR 2013-2019 come from the ECB's monthly series (source ecb-exr) and 2021-2024 from
    -- the ECB's annual averages (source ecb-exr-annual); this file fills the years between.
    VALUES ('EUR', 2020, 2020), ('EUR', 2025, 2025),
           ('CNY', 2013, 2025), ('GBP', 2013, 2025), ('JPY', 2013, 2025)
),
wanted_years AS (
    SELECT currency, unnest(range(first_year, last_year + 1)) AS year FROM wanted
),
daily AS (
    SELECT "Date" AS day, year("Date") AS year, USD, CNY, GBP, JPY
    FROM read_csv(
        'eurofxref-hist.csv', header = true, nullstr = 'N/A',
        types = {'Date': 'DATE', 'USD': 'DECIMAL(18,6)', 'CNY': 'DECIMAL(18,6)',
                 'GBP': 'DECIMAL(18,6)', 'JPY': 'DECIMAL(18,6)'}
    )
),
per_currency AS (
    -- The euro's own rate is the US dollar column: its "currency per EUR" is 1.
    UNPIVOT (SELECT day, year, USD, 1::DECIMAL(18,6) AS EUR, CNY, GBP, JPY FROM daily)
    ON EUR, CNY, GBP, JPY INTO NAME currency VALUE per_eur
),
years AS (
    SELECT d.year, p.currency,
           count(*) AS days,
           count(d.USD) AS usd_days,
           count(p.per_eur) AS currency_days,
           min(d.day) AS first_day,
           max(d.day) AS last_day,
           avg(d.USD) AS usd_per_eur,
           avg(p.per_eur) AS per_eur
    FROM daily d
    JOIN per_currency p USING (day)
    GROUP BY ALL
),
checked AS (
    SELECT w.currency, w.year, y.days, y.usd_per_eur, y.per_eur,
           coalesce(
               y.days = y.usd_days AND y.days = y.currency_days AND y.days >= 200
               AND y.first_day <= make_date(w.year, 1, 7)
               AND y.last_day >= make_date(w.year, 12, 24),
               false
           ) AS whole,
           coalesce(y.days, 0) AS found_days, y.first_day, y.last_day
    FROM wanted_years w
    LEFT JOIN years y USING (currency, year)
)
SELECT currency, year,
       CASE WHEN whole THEN printf('%.6g', usd_per_eur / per_eur)
            ELSE error(printf(
                'eurofxref-hist.csv: %s %d is not a whole year of daily rates for USD and %s '
                || '(%d day(s) in the file, %s to %s); no rate made',
                currency, year, currency, found_days, coalesce(first_day::VARCHAR, '-'),
                coalesce(last_day::VARCHAR, '-')))
       END AS usd_per_unit,
       'ecb-eurofxref-hist' AS source,
       CASE WHEN currency = 'EUR'
            THEN printf('Mean of the %d daily ECB euro reference rates of %d, USD per EUR %.5f '
                        || '(eurofxref-hist.csv)', days, year, usd_per_eur)
            ELSE printf('Cross rate through the euro: mean of the %d daily ECB euro reference '
                        || 'rates of %d, USD per EUR %.5f / %s per EUR %.5f (eurofxref-hist.csv)',
                        days, year, usd_per_eur, currency, per_eur)
       END AS note
FROM checked
ORDER BY currency <> 'EUR', currency, year;
