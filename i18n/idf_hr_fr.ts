<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr_FR" sourcelanguage="en">
  <context>
    <name>IdfHr</name>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="128" />
      <source>, resumed</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="137" />
      <source>Add to map</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="402" />
      <source>Added {n} layer(s) to the map.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="119" />
      <source>Add…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="69" />
      <source>Authentication</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="89" />
      <source>Between</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="128" />
      <source>Cache and network</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="120" />
      <source>Cancel</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/tasks.py" line="68" />
      <source>Cancelled; nothing was written.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/dock.py" line="27" />
      <source>Catalog</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="110" />
      <source>Catalog footprints</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="49" />
      <source>Catalog source</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="110" />
      <source>Catalog sources</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="70" />
      <source>Catalog sources are managed in Settings › IdF HR.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="115" />
      <source>Collection</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="91" />
      <source>Collections (comma-separated)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/render.py" line="48" />
      <source>Could not write the image {path}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="40" />
      <source>Demo region (synthetic)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="141" />
      <source>Download for offline…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="35" />
      <source>Download imagery for offline use</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="41" />
      <source>Downloads the imagery of an extent at its native resolution (or the resolution you give) into a local Cloud-Optimized GeoTIFF with overviews, or a GeoPackage raster, for offline work. The source is a raster layer (local file, COG over HTTP, mosaic, WMTS) or a GDAL path/URL. The download can be cancelled and resumes where it stopped when run again with the same parameters; a cancelled run leaves no file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="79" />
      <source>Drag a rectangle on the map to search there.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="193" />
      <source>Drag a rectangle on the map.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="77" />
      <source>Drawn rectangle</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="78" />
      <source>Draw…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="120" />
      <source>Edit…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="64" />
      <source>Enabled</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="84" />
      <source>Extent</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="54" />
      <source>Extent to download</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="56" />
      <source>Format</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="86" />
      <source>From date (YYYY-MM-DD)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="85" />
      <source>Give an imagery layer or a GDAL path/URL to download from.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="83" />
      <source>Give the address (URL) of the source.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="78" />
      <source>Give the source a name.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="67" />
      <source>IdF HR</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="75" />
      <source>IdF HR imagery panel</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="150" />
      <source>IdF HR — catalog footprints</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/dock.py" line="15" />
      <source>IdF HR — Île-de-France imagery</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/provider.py" line="28" />
      <source>IdF HR — Île-de-France very-high-resolution imagery</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="269" />
      <source>IdF HR: catalog search</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="356" />
      <source>IdF HR: thumbnails</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="63" />
      <source>Imagery</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="143" />
      <source>Imagery cache size</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="50" />
      <source>Imagery layer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="67" />
      <source>Kind</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="81" />
      <source>Kind of the URL</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="75" />
      <source>Map extent</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="114" />
      <source>Max. resolution</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="97" />
      <source>Maximum ground sample distance (m)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="105" />
      <source>Maximum number of results</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="145" />
      <source>Maximum search results</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="66" />
      <source>Name</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="144" />
      <source>Network timeout</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="245" />
      <source>No catalog source is enabled: add one in Settings › IdF HR.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="313" />
      <source>No results here: widen the extent or the dates, or pick another source.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/render.py" line="31" />
      <source>Nothing to render: no layer was given.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="39" />
      <source>OGC WMTS service</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="67" />
      <source>Offline pack</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="123" />
      <source>Offline pack written: {path} ({mb} MB, {mpx} Mpx, {s} s{resumed}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="108" />
      <source>Only results at this ground sample distance or finer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="52" />
      <source>Or: GDAL path or URL of the imagery</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="77" />
      <source>Or: catalog URL</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="133" />
      <source>Pick a source and search.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="121" />
      <source>QGIS could not open the imagery of {name}: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="207" />
      <source>Rectangle set; press Search.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="121" />
      <source>Remove</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="61" />
      <source>Resolution in map units (empty: native)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="122" />
      <source>Restore defaults</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="112" />
      <source>Restrict to one collection (empty: all).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="37" />
      <source>STAC API</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="142" />
      <source>Save the imagery of an extent to a local file for offline work.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="118" />
      <source>Search</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="60" />
      <source>Search imagery catalog</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="66" />
      <source>Searches a catalog source (STAC API, static STAC catalog, WMTS service or the demo region) by extent, date range, collections and maximum ground sample distance, and outputs one footprint polygon per result with its item id, date, GSD, collection and asset addresses. SOURCE is the id of a source configured in the IdF HR settings (e.g. “demo”, “ign-geopf”); or give a URL and its kind.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="267" />
      <source>Searching {name}…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="106" />
      <source>Select at least one result to add to the map.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="82" />
      <source>Settings…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="77" />
      <source>Show or hide the IdF HR panel: catalog, imagery, offline packs</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="71" />
      <source>Source</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="75" />
      <source>Source id</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="38" />
      <source>Static STAC catalog</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="139" />
      <source>Stream the selected results into QGIS (several tiles of one vintage open as one mosaic).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="60" />
      <source>Synthetic demo imagery generated by IdF HR (not a real photograph).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="89" />
      <source>The extent to download is empty.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/sources.py" line="44" />
      <source>The layer “{name}” is a WMS layer; only WMTS, XYZ and file/COG layers can be read for downloads or detections.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/sources.py" line="49" />
      <source>The layer “{name}” uses the “{provider}” provider, which IdF HR cannot read window by window.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="94" />
      <source>The selected results have no image asset that QGIS can open.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="114" />
      <source>The selection mixes vintages ({years}); add one vintage at a time.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/tasks.py" line="71" />
      <source>The task failed.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="88" />
      <source>To date (YYYY-MM-DD)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="68" />
      <source>URL</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/tasks.py" line="56" />
      <source>Unexpected error: {error}. Details are in the IdF HR log panel.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="38" />
      <source>Unknown catalog source “{source}”. Known sources: {known}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="87" />
      <source>When</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="73" />
      <source>Where</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="138" />
      <source>Work offline (use the cache and offline packs only)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="100" />
      <source>and</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="107" />
      <source>any</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="160" />
      <source>no</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="302" />
      <source>undated</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="122" />
      <source>unknown error</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="160" />
      <source>yes</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="159" />
      <source>{n} results.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="310" />
      <source>{n} results. Select some, then Add to map.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="49" />
      <source>{n} tiles</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>core</name>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="364" />
      <source> for this filter</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="144" />
      <source>'{crs}' is not a coordinate reference system I know.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="181" />
      <source>'{path}' is not a readable ONNX model ({err}). Choose a .onnx file exported by Ultralytics, Deepness or another ONNX exporter.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_item.py" line="285" />
      <source>'{text}' is not a valid date: use the form YYYY-MM-DD (for example 2024-06-30).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="505" />
      <source>A GeoPackage raster holds 8-bit imagery or a single band; choose the COG format instead.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/decoders.py" line="344" />
      <source>A segmentation output has shape {shape}; expected (B, C, H, W) or (B, H, W).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="140" />
      <source>Access was refused: check the authentication configuration (authcfg) of this source.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="227" />
      <source>An item of {url} is malformed and was skipped ({error}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="54" />
      <source>Band mapping '{map}' is neither RGB, RGBA, BGR, IRC nor a list like 1,2,3.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="82" />
      <source>Band(s) {bad} do not exist: the raster has {bc} band(s).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="572" />
      <source>Cannot write the offline pack in {folder} ({error}). Choose a folder you can write to.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="118" />
      <source>Catalog search cancelled.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="147" />
      <source>Check the address and parameters of this source.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="331" />
      <source>Could not connect to {host}. Check the address, your network connection or proxy.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="201" />
      <source>Could not open the imagery source {source} ({error}). Check your network connection and the source address.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="207" />
      <source>Could not open the imagery {source} ({error}). Check that the file exists and is a raster.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="541" />
      <source>Download cancelled while writing {path}: nothing was written there. Run it again to finish; the downloaded pixels are kept.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="390" />
      <source>Download cancelled: nothing was written to {path}. Run it again with the same settings to resume ({done} of {total} blocks are kept in {partial}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="274" />
      <source>Download cancelled; run it again to resume where it stopped.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="414" />
      <source>Downloaded {n} of {total} blocks</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="636" />
      <source>Execution provider(s) {missing} are not available here; available: {avail}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="110" />
      <source>GDAL could not build the mosaic: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/gpkgio.py" line="100" />
      <source>GDAL could not convert {src} to a GeoPackage.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="303" />
      <source>Imagery at {src:.3f} m/px is resampled to the model's {gsd:.3f} m/px.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="493" />
      <source>JPEG compression needs 8-bit grey or RGB imagery; use DEFLATE for this source.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/themes.py" line="165" />
      <source>No dataset of the theme {theme} was found on {portal} (looked for {ids}). Set the dataset ids of this theme in the IdF HR settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="72" />
      <source>No item was given to build a mosaic: select at least one image.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="651" />
      <source>ONNX Runtime cannot load the model '{path}': {err}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="625" />
      <source>ONNX Runtime is not installed; install it from the plugin's model manager to run detections.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="171" />
      <source>Offline pack ready: {path}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/errors.py" line="29" />
      <source>Operation cancelled by the user; nothing was written.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="134" />
      <source>Part of the catalog was skipped: {url} could not be read ({error}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="455" />
      <source>Reading {source} failed ({error}). Check your network connection, then run the download again: it resumes where it stopped.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="461" />
      <source>Reading {source} failed ({error}). The file may be damaged.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="334" />
      <source>Request to {host} failed: {detail}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="174" />
      <source>The Python package 'onnx' is missing; install the detection dependencies first.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_api.py" line="204" />
      <source>The STAC API at {url} did not answer with an item collection. Check that the source URL points to a STAC API.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/wmts.py" line="107" />
      <source>The WMTS capabilities from {host} contain a DOCTYPE/ENTITY declaration, which IdF HR refuses for safety. Check that the address points to a WMTS service.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/wmts.py" line="127" />
      <source>The WMTS service at {host} answered with an error: {detail}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/wmts.py" line="365" />
      <source>The WMTS source “{name}” has no URL. Set the address of its GetCapabilities in the IdF HR settings (Catalog sources).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="142" />
      <source>The address was not found: check the URL in the source settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="326" />
      <source>The answer from {host} was cut off before the end. Try again; if it persists the service is unstable.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="314" />
      <source>The area ({w}x{h} px) is smaller than one tile ({ts} px): it is padded.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="75" />
      <source>The band mapping {bands} gives {n} channel(s) but the model expects {mc}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="112" />
      <source>The block size must be a multiple of 16, at least 64 pixels.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/hrefs.py" line="79" />
      <source>The catalog contains an empty link; the catalog is malformed.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="87" />
      <source>The catalog file {path} cannot be read ({error}). Check that it exists.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="95" />
      <source>The catalog file {path} is not valid JSON; the catalog is damaged.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/hrefs.py" line="61" />
      <source>The catalog refers to {href}, which uses the '{scheme}://' scheme: IdF HR only opens http(s) addresses and files of local catalogs. Ask the catalog provider for an http(s) link to this file, or download it and use a local catalog.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="47" />
      <source>The catalog source “{name}” has an unknown kind '{kind}'. Choose one of: {kinds}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="55" />
      <source>The catalog source “{name}” has no URL yet. Open the IdF HR settings (Catalog sources), enter its address and enable it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_api.py" line="33" />
      <source>The catalog source “{name}” has no URL. Set the address of its STAC API in the IdF HR settings (Catalog sources).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="72" />
      <source>The catalog source “{name}” has no URL. Set the address of its catalog.json in the IdF HR settings (Catalog sources).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="240" />
      <source>The chosen extent does not overlap the imagery of {source}. Pick an extent over it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="269" />
      <source>The chosen extent is smaller than one pixel of the imagery.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="232" />
      <source>The dataset {id} does not exist on {portal} (it may have been renamed). Search the catalog for its title.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="350" />
      <source>The dataset {id} from {portal} contains a malformed geometry (feature {n}: {problem}). Nothing was loaded; report it to the data producer or filter it out with a where clause.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="322" />
      <source>The dataset {id} has no geographic field, so it cannot be filtered by the map extent.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="293" />
      <source>The dataset {id} has {total} matching records, but the Opendatasoft records API stops at 10,000. Load it through the GeoJSON export instead (the default in IdF HR), which has no limit.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="361" />
      <source>The dataset {id} returned no records{filtered}. Nothing was loaded; widen the filter or the map extent.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/wmts.py" line="134" />
      <source>The document from {host} is not WMTS capabilities (root element {tag}). Check that the address points to a WMTS GetCapabilities.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="233" />
      <source>The extent CRS {crs} is not understood ({error}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="228" />
      <source>The extent is empty: xmax must exceed xmin and ymax exceed ymin.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="161" />
      <source>The extent {bbox} is not a valid longitude/latitude box (west, south, east, north). Zoom to the area of interest and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="268" />
      <source>The extent {ext} does not overlap the raster, which covers {rb} (in {crs}). Pick an extent over the imagery.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="254" />
      <source>The extent {ext} is not xmin,ymin,xmax,ymax with xmin &lt; xmax and ymin &lt; ymax.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="306" />
      <source>The file downloaded from {host} does not match its expected checksum (sha256 {got}… instead of {want}…). It was deleted; check the URL and the checksum, then try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="49" />
      <source>The image {path} cannot be opened ({error}). Check the address or your network.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="217" />
      <source>The imagery {source} has no coordinate reference system; it cannot be cut to an extent.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="224" />
      <source>The imagery {source} is rotated; only north-up imagery can be packed.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="39" />
      <source>The item {id} has no image file to open (no GeoTIFF/JPEG 2000 asset).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/gpkgio.py" line="76" />
      <source>The layer {layer} was not found in {path}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/decoders.py" line="402" />
      <source>The layout '{layout}' does not produce detections.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/hrefs.py" line="100" />
      <source>The link {href} is relative but the location of its catalog is unknown, so it cannot be opened. Open the catalog from its URL or file path.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/hrefs.py" line="119" />
      <source>The link {href} of the remote catalog at {base} leads outside the catalog (above {root}) and was refused. The catalog is malformed or unsafe: contact its provider.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="247" />
      <source>The mask holds no polygon; select at least one polygon feature.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="278" />
      <source>The mask polygons do not overlap the raster and extent; nothing to detect.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="280" />
      <source>The model '{name}' expects an input of shape {shape}; an image model takes (batch, channels, height, width).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="272" />
      <source>The model '{name}' has {n} inputs; only single-image models are supported.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="260" />
      <source>The model '{path}' does not match its expected sha256 ({want}; the file has {got}). The file is corrupted or is not the model you meant: download it again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="220" />
      <source>The model card '{path}' is not valid JSON ({err}); fix or remove it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="226" />
      <source>The model card '{path}' must hold a JSON object.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="68" />
      <source>The model expects {mc} channel(s) but the raster has {bc} band(s) ({ci}). Choose a band mapping (e.g. '1' or '1,2,3') or imagery that matches the model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="254" />
      <source>The model file '{path}' cannot be read ({err}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="248" />
      <source>The model file '{path}' does not exist or is not a file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/decoders.py" line="91" />
      <source>The model output has shape {shape}, which does not fit the '{layout}' layout; choose the right model type (task/layout override).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="195" />
      <source>The overlap ({ov} px) must be at least 0 and smaller than the tile size ({ts} px).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="203" />
      <source>The raster '{path}' cannot be opened ({err}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="210" />
      <source>The raster '{path}' has no coordinate reference system; georeference it first.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="218" />
      <source>The raster '{path}' is in a geographic CRS (degrees); detections need metres. Reproject it to a projected CRS such as EPSG:2154 (Lambert-93) first.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="225" />
      <source>The raster is in a geographic CRS (degrees): it is resampled on the fly to {crs} for detection, and results are written in {crs}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/hrefs.py" line="88" />
      <source>The remote catalog at {base} points to the local file {href}. A remote catalog may not open files on this computer, so this link was refused. Ask the catalog provider to publish the file over http(s).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="246" />
      <source>The resolution must be a positive number of metres per pixel.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="225" />
      <source>The server at {host} answered HTTP {status} for {url}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/cached_http.py" line="60" />
      <source>The server at {host} did not say how large {url} is (no Content-Range or Content-Length). It cannot be streamed; download the file instead.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="63" />
      <source>The server at {host} did not send valid JSON. Check that the address points to the right service.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/wmts.py" line="117" />
      <source>The server at {host} did not send valid WMTS capabilities (invalid XML: {error}). Check that the address points to a WMTS service.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="280" />
      <source>The server at {host} sent a partial answer without a valid Content-Range.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="289" />
      <source>The server at {host} sent an empty chunk.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/cached_http.py" line="155" />
      <source>The server at {host} sent {got} bytes at offset {at} instead of {want} bytes at offset {start} for {url}. Try again; if it persists the service is unstable.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/cached_http.py" line="172" />
      <source>The server at {host} sent {got} bytes for {url}, which should be {want} bytes long. Try again; if it persists the service is unstable.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="146" />
      <source>The service is failing on its side: try again later.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="144" />
      <source>The service is rate-limiting requests: wait a minute and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="132" />
      <source>The source “{name}” failed unexpectedly: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/cache.py" line="84" />
      <source>The tile cache folder {path} cannot be used ({error}). Choose another cache folder in the IdF HR settings or free some disk space.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="192" />
      <source>The tile size must be at least 8 pixels (got {n}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="566" />
      <source>There is not enough free disk space in {folder} for this offline pack. Free some space or choose another folder, then run it again: it resumes where it stopped.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="99" />
      <source>These images cannot be mosaicked together: they have different band counts ({counts}), e.g. RGB and infrared. Select images of one product.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="92" />
      <source>These images cannot be mosaicked together: they use different coordinate systems ({crss}). Select images of one vintage and one projection.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="110" />
      <source>Unknown compression {name}: choose DEFLATE or JPEG.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="322" />
      <source>Unknown output layout '{layout}'; choose one of: {layouts}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="107" />
      <source>Unknown pack format {fmt}: choose COG or GPKG.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="318" />
      <source>Unknown task '{task}'; choose one of: {tasks}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/themes.py" line="124" />
      <source>Unknown theme {key}; known themes: {known}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="160" />
      <source>Writing {name}…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/tms.py" line="87" />
      <source>Zoom level {z} does not exist in tile matrix set {tms} (0 to {max}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="46" />
      <source>retrieved 1 hour ago</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="42" />
      <source>retrieved 1 minute ago</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="38" />
      <source>retrieved just now</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="47" />
      <source>retrieved {n} days ago</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="46" />
      <source>retrieved {n} hours ago</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="42" />
      <source>retrieved {n} minutes ago</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="220" />
      <source>{host} did not answer like an Opendatasoft Explore API v2.1 catalog.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="321" />
      <source>{host} did not answer within {timeout} s. Check your network connection or proxy, or raise the timeout in the IdF HR settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="27" />
      <source>{href} uses the '{scheme}://' scheme, which IdF HR cannot open: use an http(s) address or a local file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/gpkgio.py" line="190" />
      <source>{path} could not be opened as a vector dataset.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="337" />
      <source>{portal} did not send a GeoJSON FeatureCollection for the dataset {id}. Try again later or check the portal address.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="279" />
      <source>{portal} refused the query on {id}: {message}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_api.py" line="52" />
      <source>{url} did not answer with a STAC API landing page. Check the source URL.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="126" />
      <source>{url} is not a STAC document.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/cached_http.py" line="135" />
      <source>{url} is not in the local cache and IdF HR is working offline. Reconnect (or turn offline mode off) and view or download this imagery once to use it offline.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/proxy.py" line="118" />
      <source>{url} is not under one of the imagery sources configured in IdF HR, so it is not read through the local cache. Add its source in the settings first.</source>
      <translation type="unfinished" />
    </message>
  </context>
</TS>
