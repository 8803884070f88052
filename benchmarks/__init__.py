"""Redline's performance harness: ``python -m benchmarks [NAME …] [--quick] [--profile]``.

Everything is generated, nothing is fetched from the network:

* ``data``: deterministic synthetic news. Zipf-distributed English plus a tail of 20,000 rare
  made-up words; ~650 characters of text per item, rendered in RSS 2.0 as escaped HTML
  (paragraphs, bold, a tracking-tagged link) with categories, guid, link, dc:creator and
  pubDate. About 10% of items mention a watched entity (half drawn Zipf-like from the head of
  the watchlist, half uniformly); some mentions sit inside an excluded phrase, some come with
  a context word, some state a deadline. Watchlists are the real entities of the bundled
  feeds.yaml followed by synthetic ones (name + 3 aliases; every 5th with exclusions, every
  7th with context words).
* ``feedserver``: a separate process serving pre-rendered documents with real ETag and
  Last-Modified validators and 304s, on port 0 of 127.0.0.1 … 127.0.0.8 (the Fetcher allows
  two requests in flight per host).
* ``prefill``: a store of M items written with bulk SQL through the Store's own schema; its
  search index is written in the live store's batches and tidied as the service tidies it.
* ``cycle``: poll cycles of the real Poller/Fetcher/Store in a fresh process, with a probe
  counting parses, writes and per-stage thread CPU.
* One module per group of figures: ``first_cycle``, ``throughput``, ``matching``, ``search``,
  ``ack``, ``startup``; ``report`` prints the table and writes BENCHMARKS.md.
"""
