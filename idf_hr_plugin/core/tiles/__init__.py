"""Tiles: tile matrix sets, the persistent tile/range cache, the caching range proxy, offline packs.

Modules: ``tms`` (tile maths), ``cache`` (:class:`BlockCache`), ``cached_http``
(:class:`CachedHttp`), ``proxy`` (:class:`CachingRangeProxy`, GDAL ``/vsicurl/`` through the
cache), ``service`` (the one proxy of the process; stored vs routed GDAL paths) and ``offline``
(:func:`download_pack`). Import them directly; this package imports nothing
heavy so the plugin loads fast.
"""
