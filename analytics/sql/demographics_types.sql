-- GET demographics/, by_division_type: visitors of [$start, $end] by the type of their division.
select division_type, visitors, pct from demographics($start, $end)
