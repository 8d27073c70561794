"""The aggregate models beside their SQL: the catalogue, the rebuild, the dimension loading.

Nothing here opens the DuckDB file: :mod:`warehouse.aggregation` hands these functions an open
connection and holds the transaction.
"""
