"""The compliance reviewer's monthly assessment pack (issue 12): one self-contained HTML page with charts,
CSV files a spreadsheet opens and an OCSF Detection Finding export, all derived from the audit trail.

`period.period()` turns `--month MM/YYYY` / `--as-at DD/MM/YYYY` into a London-day period;
`assessment.assess()` is the pure computation; `html`, `tables` and `ocsf` render it; `pack.build_pack()` /
`pack.write_pack()` put it together; `commands.monthly_pack()` is the CLI entry.
"""
