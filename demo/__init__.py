"""Generated demo traffic with known answers: the community metrics checked against a site whose truth is known.

* :mod:`demo.traffic`: a deterministic, seeded generator of nginx access logs with signed-in
  users, session cookies, communities, divisions, crawlers and conversions, plus the routes,
  dimension files and settings to run footfall on them (``python -m demo.traffic OUT_DIR``).
* :mod:`demo.ground_truth`: every metric of docs/analysts/communities.md computed from the generated
  records in plain Python, independently of footfall's parser, transforms and SQL.
* :mod:`demo.report`: prints footfall's views beside the ground truth (``make demo``).
"""
