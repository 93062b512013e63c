<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr_FR" sourcelanguage="en">
  <context>
    <name>IdfHr</name>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="287" />
      <source> Classes left out: {c}.</source>
      <translation> Classes exclues : {c}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="172" />
      <source>, resumed</source>
      <translation>, repris</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="99" />
      <source>--kind {kind} needs --url, the catalog address.</source>
      <translation>--kind {kind} nécessite --url, l'adresse du catalogue.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="190" />
      <source>--out '{path}' is a file; give a folder for the demo outputs.</source>
      <translation>--out '{path}' est un fichier ; indiquez un dossier pour les sorties de démonstration.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="680" />
      <source>--out '{path}' is a file; give a folder.</source>
      <translation>--out '{path}' est un fichier ; indiquez un dossier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="152" />
      <source>--out '{path}' must end in .tif (COG) or .gpkg.</source>
      <translation>--out '{path}' doit se terminer par .tif (COG) ou .gpkg.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="169" />
      <source>--resume, --jobs-dir, --worker-model and --tiles-per-job need --workers N or --scheduler ADDRESS.</source>
      <translation>--resume, --jobs-dir, --worker-model et --tiles-per-job demandent --workers N ou --scheduler ADRESSE.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="102" />
      <source>--start {start} is after --end {end}; swap them.</source>
      <translation>--start {start} est postérieur à --end {end} ; inversez-les.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="473" />
      <source>--vintages must name two different vintages, e.g. 2024,2026.</source>
      <translation>--vintages doit désigner deux millésimes différents, p. ex. 2024,2026.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="302" />
      <source>1 cached dataset matches: it is listed under “Cached datasets (offline)”, load it from there, or search again once the network is back.</source>
      <translation>1 jeu de données en cache correspond : il est listé sous « Jeux de données en cache (hors ligne) » ; chargez-le depuis cette liste, ou relancez la recherche quand le réseau sera revenu.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="302" />
      <source>A Dask cluster runs the jobs of the tile plan in several processes or machines.</source>
      <translation>Une grappe Dask exécute les lots du plan de dalles dans plusieurs processus ou machines.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="72" />
      <source>A catalog run opens from its GeoPackage; a PostGIS run opens limited to the extent above.</source>
      <translation>Une exécution du catalogue s'ouvre depuis son GeoPackage ; une exécution PostGIS s'ouvre limitée à l'emprise ci-dessus.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="102" />
      <source>A step-by-step tour of the demo region for AI awareness sessions: works offline</source>
      <translation>Une visite pas à pas de la région de démonstration pour les sessions de sensibilisation à l'IA : fonctionne hors ligne</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="130" />
      <source>A zones layer</source>
      <translation>Une couche de zones</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/fibre_coverage.py" line="52" />
      <source>ARCEP FttH deployment file (CSV/XLSX)</source>
      <translation>Fichier de déploiement FttH de l'ARCEP (CSV/XLSX)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="110" />
      <source>ARCEP FttH deployment file or URL (empty: the bundled ARCEP figures)</source>
      <translation>Fichier ou URL de déploiement FttH de l'ARCEP (vide : données ARCEP fournies avec l'extension)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="105" />
      <source>ARCEP files (local file or URL)</source>
      <translation>Fichiers ARCEP (fichier local ou URL)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/fibre_coverage.py" line="56" />
      <source>ARCEP premises file (Logements, Établissements)</source>
      <translation>Fichier des locaux de l'ARCEP (Logements, Établissements)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="117" />
      <source>ARCEP premises file or URL (Logements, Établissements)</source>
      <translation>Fichier ou URL des locaux de l'ARCEP (Logements, Établissements)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_widgets.py" line="29" />
      <source>Add an Opendatasoft portal</source>
      <translation>Ajouter un portail Opendatasoft</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="75" />
      <source>Add any Opendatasoft portal by its address.</source>
      <translation>Ajoutez n'importe quel portail Opendatasoft à partir de son adresse.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_widgets.py" line="71" />
      <source>Add outline</source>
      <translation>Ajouter le contour</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="74" />
      <source>Add portal…</source>
      <translation>Ajouter un portail…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="140" />
      <source>Add to map</source>
      <translation>Ajouter à la carte</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="414" />
      <source>Added {n} layer(s) to the map.</source>
      <translation>{n} couche(s) ajoutée(s) à la carte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_widgets.py" line="37" />
      <source>Address</source>
      <translation>Adresse</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="162" />
      <source>Address of the Métropole du Grand Paris Opendatasoft portal.</source>
      <translation>Adresse du portail Opendatasoft de la Métropole du Grand Paris.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="125" />
      <source>Add…</source>
      <translation>Ajouter…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="287" />
      <source>Advanced: where to run</source>
      <translation>Avancé : où exécuter</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="188" />
      <source>After</source>
      <translation>Après</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="314" />
      <source>All quarters (Temporal Controller)</source>
      <translation>Tous les trimestres (Contrôleur temporel)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="363" />
      <source>All quarters are drawn on top of each other: open View › Panels › Temporal Controller and switch it to animation to see one quarter at a time.</source>
      <translation>Tous les trimestres sont dessinés les uns sur les autres : ouvrez Vue › Panneaux › Contrôleur temporel et passez-le en animation pour voir un trimestre à la fois.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="58" />
      <source>Also write an HTML version next to the PDF</source>
      <translation>Écrire aussi une version HTML à côté du PDF</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="61" />
      <source>Analyse</source>
      <translation>Analyse</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="103" />
      <source>Analysed share (%)</source>
      <translation>Part analysée (%)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="119" />
      <source>Analysed share per zone</source>
      <translation>Part analysée par zone</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="42" />
      <source>Analysis</source>
      <translation>Analyse</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="69" />
      <source>Authentication</source>
      <translation>Authentification</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="54" />
      <source>Balance (new − gone)</source>
      <translation>Solde (nouveaux − disparus)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="144" />
      <source>Band mapping to the model's channels (RGB, BGR, IRC or band numbers like 4,1,2; empty: RGB)</source>
      <translation>Correspondance des bandes avec les canaux du modèle (RGB, BGR, IRC ou numéros de bandes comme 4,1,2 ; vide : RGB)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/qgis_reader.py" line="88" />
      <source>Band(s) {bad} do not exist: the layer has {n} band(s).</source>
      <translation>La ou les bandes {bad} n'existent pas : la couche compte {n} bande(s).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="120" />
      <source>Batch size (0: automatic)</source>
      <translation>Taille de lot (0 : automatique)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="188" />
      <source>Before</source>
      <translation>Avant</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="97" />
      <source>Between</source>
      <translation>Entre le</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="117" />
      <source>Boundaries</source>
      <translation>Limites administratives</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="69" />
      <source>Browse…</source>
      <translation>Parcourir…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="118" />
      <source>Buildings (IPE)</source>
      <translation>Immeubles (IPE)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="50" />
      <source>Builds one folder to work with the network off, for a commune or EPT (or an extent): a QGIS project with relative paths, the imagery of the chosen vintages (COG), the commune boundaries, the FttH coverage (from your ARCEP files, or the figures bundled with the plugin), chosen open-data layers and detection models with their cards. Copy the folder to another laptop or a USB stick; its GeoPackages open in QField. The size is estimated and the free disk space checked before starting. Cancelling leaves nothing; after a failure, running again with the same output folder resumes where it stopped. Several files or vintages: separate them with “;”.</source>
      <translation>Crée un dossier unique pour travailler sans réseau, pour une commune ou un EPT (ou une emprise) : un projet QGIS à chemins relatifs, l'imagerie des millésimes choisis (COG), les limites des communes, la couverture FttH (à partir de vos fichiers ARCEP, ou des données fournies avec l'extension), les couches de données ouvertes choisies et les modèles de détection avec leurs fiches. Copiez le dossier sur un autre ordinateur portable ou sur une clé USB ; ses GeoPackages s'ouvrent dans QField. La taille est estimée et l'espace disque libre vérifié avant le démarrage. Une annulation ne laisse rien ; après un échec, relancer avec le même dossier de sortie reprend là où le traitement s'était arrêté. Plusieurs fichiers ou millésimes : séparez-les par « ; ».</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="301" />
      <source>Bundled ARCEP snapshot, {vintage}.</source>
      <translation>Instantané ARCEP fourni avec l'extension, {vintage}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="818" />
      <source>Bundled with IdF HR, vintage {vintage}.</source>
      <translation>Fourni avec IdF HR, millésime {vintage}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="148" />
      <source>CSV (*.csv);;Excel (*.xlsx)</source>
      <translation>CSV (*.csv);;Excel (*.xlsx)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="134" />
      <source>Cache and network</source>
      <translation>Cache et réseau</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="129" />
      <source>Cached datasets (offline)</source>
      <translation>Jeux de données en cache (hors ligne)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="253" />
      <source>Cancel</source>
      <translation>Annuler</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/tasks.py" line="70" />
      <source>Cancelled; nothing was written.</source>
      <translation>Annulé ; rien n'a été écrit.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="932" />
      <source>Cancelling…</source>
      <translation>Annulation…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="100" />
      <source>Cars are parked elsewhere on every flight, so their changes say nothing about the territory: they are left out by default. Clear the field to keep them.</source>
      <translation>Les voitures sont garées ailleurs à chaque prise de vue : leurs changements ne disent rien du territoire, elles sont donc exclues par défaut. Videz le champ pour les conserver.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/dock.py" line="38" />
      <source>Catalog</source>
      <translation>Catalogue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_model.py" line="44" />
      <source>Catalog folder (created when absent)</source>
      <translation>Dossier du catalogue (créé s'il n'existe pas)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="116" />
      <source>Catalog footprints</source>
      <translation>Emprises du catalogue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="49" />
      <source>Catalog source</source>
      <translation>Source de catalogue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="112" />
      <source>Catalog sources</source>
      <translation>Sources de catalogue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="77" />
      <source>Catalog sources are managed in Settings › IdF HR.</source>
      <translation>Les sources de catalogue se gèrent dans Préférences › Options › IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="232" />
      <source>Change</source>
      <translation>Changement</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="68" />
      <source>Change between two vintages</source>
      <translation>Changement entre deux millésimes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="182" />
      <source>Change detection</source>
      <translation>Détection de changements</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="39" />
      <source>Change detection between two vintages</source>
      <translation>Détection de changements entre deux millésimes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="107" />
      <source>Change layer</source>
      <translation>Couche de changements</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="176" />
      <source>Changes</source>
      <translation>Changements</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/offline_kit.py" line="265" />
      <source>Choose a commune or an EPT, or give an extent, for the kit.</source>
      <translation>Choisissez une commune ou un EPT, ou indiquez une emprise, pour le kit.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="76" />
      <source>Choose a file</source>
      <translation>Choisir un fichier</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="782" />
      <source>Choose a model first, or import one.</source>
      <translation>Choisissez d'abord un modèle, ou importez-en un.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/detection.py" line="157" />
      <source>Choose a polygon layer for the mask.</source>
      <translation>Choisissez une couche de polygones pour le masque.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/detection.py" line="85" />
      <source>Choose a valid imagery layer first.</source>
      <translation>Choisissez d'abord une couche d'imagerie valide.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="96" />
      <source>Choose the PDF file to write.</source>
      <translation>Choisissez le fichier PDF à écrire.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="255" />
      <source>Choose the detection layers of the two vintages.</source>
      <translation>Choisissez les couches de détections des deux millésimes.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="309" />
      <source>Choose the detection or change layer to count.</source>
      <translation>Choisissez la couche de détections ou de changements à décompter.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/report.py" line="120" />
      <source>Choose the field that names the zones (ZONE_FIELD).</source>
      <translation>Choisissez le champ qui nomme les zones (ZONE_FIELD).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="105" />
      <source>Choose the field that names the zones, or no zone layer.</source>
      <translation>Choisissez le champ qui nomme les zones, ou aucune couche de zones.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="793" />
      <source>Choose the imagery layer to run the model on.</source>
      <translation>Choisissez la couche d'imagerie sur laquelle exécuter le modèle.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="127" />
      <source>Choose the layer to publish.</source>
      <translation>Choisissez la couche à publier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="93" />
      <source>Choose the layer to report on (detections, changes or statistics).</source>
      <translation>Choisissez la couche sur laquelle porte le rapport (détections, changements ou statistiques).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/report.py" line="109" />
      <source>Choose the layer to report on.</source>
      <translation>Choisissez la couche sur laquelle porte le rapport.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="796" />
      <source>Choose the output GeoPackage.</source>
      <translation>Choisissez le GeoPackage de sortie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="243" />
      <source>Choose the two imagery layers and the model.</source>
      <translation>Choisissez les deux couches d'imagerie et le modèle.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="87" />
      <source>Choose the zones layer, or communes, EPT or the whole MGP.</source>
      <translation>Choisissez la couche de zones, ou les communes, les EPT ou l'ensemble de la MGP.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="223" />
      <source>Choose where to save the {what}.</source>
      <translation>Choisissez où enregistrer {what}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="63" />
      <source>Class</source>
      <translation>Classe</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="100" />
      <source>Classes</source>
      <translation>Classes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="105" />
      <source>Classes left out (cars move)</source>
      <translation>Classes exclues (les voitures se déplacent)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="102" />
      <source>Classes left out, comma-separated (cars move between flights)</source>
      <translation>Classes exclues, séparées par des virgules (les voitures se déplacent d'une prise de vue à l'autre)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="505" />
      <source>Classes left out: {c}.</source>
      <translation>Classes exclues : {c}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="216" />
      <source>Classes the model weighed (run)</source>
      <translation>Classes envisagées par le modèle (exécution)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="345" />
      <source>Click a detection (or change) on the map to see what the model saw, its scores, the classes it hesitated between and the model's known limits.</source>
      <translation>Cliquez sur une détection (ou un changement) sur la carte pour voir ce que le modèle a vu, ses scores, les classes entre lesquelles il a hésité et les limites connues du modèle.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="110" />
      <source>Close the guided session (the map stays as it is).</source>
      <translation>Fermer la session guidée (la carte reste en l'état).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="124" />
      <source>Collection</source>
      <translation>Collection</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="93" />
      <source>Collections (comma-separated)</source>
      <translation>Collections (séparées par des virgules)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="133" />
      <source>Columns</source>
      <translation>Colonnes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="254" />
      <source>Columns matched by name; pick the right ones where a name is missing, then Compute.</source>
      <translation>Colonnes associées par leur nom ; choisissez les bonnes là où un nom manque, puis cliquez sur Calculer.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="142" />
      <source>Comes from</source>
      <translation>Provenance</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/fibre_coverage.py" line="62" />
      <source>Commune boundaries (empty: geo.api.gouv.fr, cached; offline: bundled IGN copy)</source>
      <translation>Limites communales (vide : geo.api.gouv.fr, en cache ; hors ligne : copie IGN fournie)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="103" />
      <source>Commune boundaries (empty: settings or geo.api.gouv.fr, cached)</source>
      <translation>Limites des communes (vide : paramètres ou geo.api.gouv.fr, mis en cache)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="76" />
      <source>Commune boundaries file (empty: geo.api.gouv.fr, cached)</source>
      <translation>Fichier des limites des communes (vide : geo.api.gouv.fr, mis en cache)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="190" />
      <source>Commune or EPT</source>
      <translation>Commune ou EPT</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_widgets.py" line="64" />
      <source>Commune or EPT (e.g. Saint-Denis, Plaine Commune)</source>
      <translation>Commune ou EPT (p. ex. Saint-Denis, Plaine Commune)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="66" />
      <source>Commune or EPT (name or code, e.g. Saint-Maur-des-Fossés, T10)</source>
      <translation>Commune ou EPT (nom ou code, p. ex. Saint-Maur-des-Fossés, T10)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="171" />
      <source>Communes service</source>
      <translation>Service des communes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="115" />
      <source>Compare</source>
      <translation>Comparer</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="45" />
      <source>Compares two vintages object by object (one-to-one matching per class, areas in Lambert-93): new, removed, modified, unchanged, or uncertain near the edge of the analysed ground. Give either two detection layers of the same model, or two imagery layers, a model and an extent (both runs are made first). Runs of different models or that do not overlap are refused; layers in different CRSs are reprojected. Cars are left out by default (parked elsewhere on every flight): clear 'Classes left out' to keep them. Semantic-segmentation runs give gained / lost surfaces instead.</source>
      <translation>Compare deux millésimes objet par objet (appariement un à un par classe, surfaces en Lambert-93) : nouveau, disparu, modifié, inchangé, ou incertain près du bord du terrain analysé. Fournissez soit deux couches de détections du même modèle, soit deux couches d'imagerie, un modèle et une emprise (les deux exécutions sont alors effectuées au préalable). Les exécutions de modèles différents ou qui ne se recoupent pas sont refusées ; les couches dans des SCR différents sont reprojetées. Les voitures sont exclues par défaut (garées ailleurs à chaque prise de vue) : videz « Classes exclues » pour les conserver. Les exécutions de segmentation sémantique donnent à la place des surfaces gagnées / perdues.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="294" />
      <source>Comparing the two vintages…</source>
      <translation>Comparaison des deux millésimes…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="159" />
      <source>Compute coverage</source>
      <translation>Calculer la couverture</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="113" />
      <source>Compute statistics</source>
      <translation>Calculer les statistiques</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/fibre_coverage.py" line="40" />
      <source>Computes the share of premises connectable to FttH per commune (or EPT) and quarter from ARCEP files: the deployment file (connectable premises per quarter) and the premises file (Logements + Établissements). Columns are found by name. The result is joined to the MGP boundaries (a local file, or geo.api.gouv.fr through the IdF HR cache; when it cannot be reached, the IGN ADMIN EXPRESS boundaries bundled with the plugin), styled as a graduated choropleth (0–10, 10–25, 25–50, 50–80, 80–100 %) with temporal properties so the Temporal Controller animates the quarters.</source>
      <translation>Calcule la part des locaux raccordables au FttH par commune (ou EPT) et par trimestre à partir des fichiers de l'ARCEP : le fichier de déploiement (locaux raccordables par trimestre) et le fichier des locaux (Logements + Établissements). Les colonnes sont repérées par leur nom. Le résultat est joint aux limites de la MGP (fichier local, ou geo.api.gouv.fr via le cache d'IdF HR ; s'il est injoignable, les limites IGN ADMIN EXPRESS fournies avec l'extension), symbolisé en carte choroplèthe graduée (0–10, 10–25, 25–50, 50–80, 80–100 %) avec des propriétés temporelles pour que le Contrôleur temporel anime les trimestres.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="280" />
      <source>Computing the coverage…</source>
      <translation>Calcul de la couverture…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="287" />
      <source>Computing the occlusion map…</source>
      <translation>Calcul de la carte d'occultation…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="211" />
      <source>Confidence</source>
      <translation>Confiance</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="104" />
      <source>Confidence threshold (empty: model's)</source>
      <translation>Seuil de confiance (vide : celui du modèle)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="60" />
      <source>Connection</source>
      <translation>Connexion</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="123" />
      <source>Copy an .onnx model (and its .json card) into your models folder.</source>
      <translation>Copier un modèle .onnx (et sa fiche .json) dans votre dossier de modèles.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/render.py" line="48" />
      <source>Could not write the image {path}.</source>
      <translation>Impossible d'écrire l'image {path}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="354" />
      <source>Counting per zone…</source>
      <translation>Décompte par zone…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="108" />
      <source>Counts per change</source>
      <translation>Décomptes par type de changement</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="44" />
      <source>Counts, areas and densities per zone and class of a detection or change layer. Zones: the MGP communes, EPT or the whole MGP (boundaries service, cached for offline use) or any polygon layer with a field naming the zones. Areas are in Lambert-93 whatever the zones' CRS. Each zone states the share of its area that was analysed ('analysé à 12 %'); densities are per analysed km², never extrapolated to the unanalysed part. Outputs: a table (CSV or XLSX) and the zones layer joined with the figures, styled on the chosen indicator.</source>
      <translation>Nombres d'objets, surfaces et densités par zone et par classe d'une couche de détections ou de changements. Zones : les communes de la MGP, les EPT ou l'ensemble de la MGP (service des limites, mis en cache pour une utilisation hors ligne) ou toute couche de polygones dotée d'un champ qui nomme les zones. Les surfaces sont calculées en Lambert-93 quel que soit le SCR des zones. Chaque zone indique la part de sa surface qui a été analysée (« analysé à 12 % ») ; les densités sont rapportées au km² analysé, jamais extrapolées à la partie non analysée. Sorties : un tableau (CSV ou XLSX) et la couche de zones jointe aux chiffres, symbolisée selon l'indicateur choisi.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/fibre_coverage.py" line="74" />
      <source>Coverage layer</source>
      <translation>Couche de couverture</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="862" />
      <source>Dask dashboard: &lt;a href="{url}"&gt;{url}&lt;/a&gt;</source>
      <translation>Tableau de bord Dask : &lt;a href="{url}"&gt;{url}&lt;/a&gt;</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="308" />
      <source>Dask dashboard: {url}</source>
      <translation>Tableau de bord Dask : {url}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="300" />
      <source>Dask scheduler</source>
      <translation>Ordonnanceur Dask</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="171" />
      <source>Dask scheduler address (tcp://host:8786)</source>
      <translation>Adresse de l'ordonnanceur Dask (tcp://hôte:8786)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="158" />
      <source>Dask scheduler at an address</source>
      <translation>Ordonnanceur Dask à une adresse</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="83" />
      <source>Database schema</source>
      <translation>Schéma de la base</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/opendata_load.py" line="51" />
      <source>Dataset id</source>
      <translation>Identifiant du jeu de données</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/opendata_load.py" line="58" />
      <source>Dataset layer</source>
      <translation>Couche du jeu de données</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="40" />
      <source>Demo region (synthetic)</source>
      <translation>Région de démonstration (synthétique)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="61" />
      <source>Detect objects with an ONNX model</source>
      <translation>Détecter des objets avec un modèle ONNX</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="207" />
      <source>Detected as</source>
      <translation>Détecté comme</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="89" />
      <source>Detection</source>
      <translation>Détection</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="155" />
      <source>Detection and open data</source>
      <translation>Détection et données ouvertes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="587" />
      <source>Detection by commune or EPT needs the boundaries: load them once in the Open data tab, then reopen this tab.</source>
      <translation>La détection par commune ou EPT nécessite les limites administratives : chargez-les une fois dans l'onglet Données ouvertes, puis rouvrez cet onglet.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="821" />
      <source>Detection not started.</source>
      <translation>Détection non lancée.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="57" />
      <source>Detection or change layer</source>
      <translation>Couche de détections ou de changements</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="775" />
      <source>Detection running…</source>
      <translation>Détection en cours…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="40" />
      <source>Detection, change or statistics layer</source>
      <translation>Couche de détections, de changements ou de statistiques</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/report.py" line="58" />
      <source>Detection, change or statistics layer (GeoPackage)</source>
      <translation>Couche de détections, de changements ou de statistiques (GeoPackage)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="130" />
      <source>Detections (GeoPackage)</source>
      <translation>Détections (GeoPackage)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="127" />
      <source>Detections or changes</source>
      <translation>Détections ou changements</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="59" />
      <source>Detections, first vintage</source>
      <translation>Détections, premier millésime</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="64" />
      <source>Detections, second vintage</source>
      <translation>Détections, second millésime</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="238" />
      <source>Done! Click Next.</source>
      <translation>C'est fait ! Cliquez sur Suivant.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="236" />
      <source>Done! The session is over: click Reset for the next participant.</source>
      <translation>C'est fait ! La session est terminée : cliquez sur Réinitialiser pour le participant suivant.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="909" />
      <source>Done: layer “{layer}” added to the group “{group}”.</source>
      <translation>Terminé : couche « {layer} » ajoutée au groupe « {group} ».</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="537" />
      <source>Download a model</source>
      <translation>Télécharger un modèle</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="126" />
      <source>Download a model from a URL; its sha256 is verified.</source>
      <translation>Télécharger un modèle depuis une URL ; son sha256 est vérifié.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="144" />
      <source>Download for offline…</source>
      <translation>Télécharger pour le hors-ligne…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="37" />
      <source>Download imagery for offline use</source>
      <translation>Télécharger l'imagerie pour une utilisation hors ligne</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="136" />
      <source>Download size</source>
      <translation>Taille du téléchargement</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="491" />
      <source>Downloading {title}…</source>
      <translation>Téléchargement de {title}…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="43" />
      <source>Downloads the imagery of an extent at its native resolution (or the resolution you give) into a local Cloud-Optimized GeoTIFF with overviews, or a GeoPackage raster, for offline work. The source is a raster layer (local file, COG over HTTP, mosaic, WMTS) or a GDAL path/URL. The download can be cancelled and resumes where it stopped when run again with the same parameters; a cancelled run leaves no file.</source>
      <translation>Télécharge l'imagerie d'une emprise à sa résolution native (ou à la résolution indiquée) dans un Cloud-Optimized GeoTIFF (COG) local avec pyramides, ou dans un raster GeoPackage, pour travailler hors ligne. La source est une couche raster (fichier local, COG via HTTP, mosaïque, WMTS) ou un chemin/URL GDAL. Le téléchargement peut être annulé et reprend là où il s'était arrêté lorsqu'il est relancé avec les mêmes paramètres ; une exécution annulée ne laisse aucun fichier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="125" />
      <source>Download…</source>
      <translation>Télécharger…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="87" />
      <source>Drag a rectangle on the map to search there.</source>
      <translation>Tracez un rectangle sur la carte pour y lancer la recherche.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="205" />
      <source>Drag a rectangle on the map.</source>
      <translation>Tracez un rectangle sur la carte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="179" />
      <source>Drag a rectangle on the map: detection runs there.</source>
      <translation>Tracez un rectangle sur la carte : la détection s'y exécute.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="685" />
      <source>Draw a rectangle on the map first (Draw…).</source>
      <translation>Tracez d'abord un rectangle sur la carte (Tracer…).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="85" />
      <source>Drawn rectangle</source>
      <translation>Rectangle tracé</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="86" />
      <source>Draw…</source>
      <translation>Tracer…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="965" />
      <source>Duration {dur} s, CPU {cpu} s, {km2} km², energy ≈ {wh} Wh.</source>
      <translation>Durée {dur} s, CPU {cpu} s, {km2} km², énergie ≈ {wh} Wh.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="130" />
      <source>EPT</source>
      <translation>EPT</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="126" />
      <source>Edit…</source>
      <translation>Modifier…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="64" />
      <source>Enabled</source>
      <translation>Activée</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="212" />
      <source>Energy estimate method: {m}</source>
      <translation>Méthode d'estimation de l'énergie : {m}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="972" />
      <source>Energy method: {method}</source>
      <translation>Méthode de calcul de l'énergie : {method}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="43" />
      <source>English</source>
      <translation>Anglais</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="251" />
      <source>Error: GDAL could not read the data ({msg}). Check that the file is complete and readable.</source>
      <translation>Erreur : GDAL n'a pas pu lire les données ({msg}). Vérifiez que le fichier est complet et lisible.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="242" />
      <source>Error: {msg}</source>
      <translation>Erreur : {msg}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="256" />
      <source>Every column was found. Press Compute.</source>
      <translation>Toutes les colonnes ont été trouvées. Cliquez sur Calculer.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/onnx_runtime_install.py" line="195" />
      <source>Everything is already installed.</source>
      <translation>Tout est déjà installé.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="383" />
      <source>Execution provider: {p}</source>
      <translation>Fournisseur d'exécution : {p}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="84" />
      <source>Extent</source>
      <translation>Emprise</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="92" />
      <source>Extent (empty: the whole layer)</source>
      <translation>Emprise (vide : toute la couche)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="88" />
      <source>Extent analysed on both images</source>
      <translation>Emprise analysée sur les deux images</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="60" />
      <source>Extent to download</source>
      <translation>Emprise à télécharger</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="52" />
      <source>F1 score</source>
      <translation>score F1</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="118" />
      <source>Features written to PostGIS</source>
      <translation>Entités écrites dans PostGIS</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="99" />
      <source>Fibre (FttH)</source>
      <translation>Fibre (FttH)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="407" />
      <source>Field</source>
      <translation>Champ</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="141" />
      <source>Field naming the zones</source>
      <translation>Champ nommant les zones</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="111" />
      <source>Filter (ODSQL where)</source>
      <translation>Filtre (clause where ODSQL)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="87" />
      <source>First imagery</source>
      <translation>Première imagerie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="85" />
      <source>First vintage</source>
      <translation>Premier millésime</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="160" />
      <source>Folder of your own ONNX models (empty: the IdF HR cache folder).</source>
      <translation>Dossier de vos propres modèles ONNX (vide : le dossier de cache d'IdF HR).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="47" />
      <source>Folder or catalog.json URL, e.g. a shared drive</source>
      <translation>Dossier ou URL d'un catalog.json, p. ex. un lecteur partagé</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="62" />
      <source>Format</source>
      <translation>Format</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="250" />
      <source>Found on</source>
      <translation>Trouvé sur</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="132" />
      <source>Framework</source>
      <translation>Framework</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="42" />
      <source>French</source>
      <translation>Français</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="86" />
      <source>From date (YYYY-MM-DD)</source>
      <translation>Date de début (AAAA-MM-JJ)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="149" />
      <source>FttH</source>
      <translation>FttH</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/fibre_coverage.py" line="34" />
      <source>FttH (fibre) coverage per commune or EPT</source>
      <translation>Couverture FttH (fibre) par commune ou EPT</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="308" />
      <source>FttH buildings (IPE)</source>
      <translation>Immeubles FttH (IPE)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="289" />
      <source>FttH coverage by EPT</source>
      <translation>Couverture FttH par EPT</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="289" />
      <source>FttH coverage by commune</source>
      <translation>Couverture FttH par commune</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/fibre_coverage.py" line="118" />
      <source>FttH coverage by {level}</source>
      <translation>Couverture FttH par {level}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="115" />
      <source>FttH deployment</source>
      <translation>Déploiement FttH</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="379" />
      <source>FttH file</source>
      <translation>fichier FttH</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="262" />
      <source>GeoPackage</source>
      <translation>GeoPackage</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="110" />
      <source>GeoPackage (*.gpkg)</source>
      <translation>GeoPackage (*.gpkg)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="85" />
      <source>Geographic datasets only</source>
      <translation>Jeux de données géographiques uniquement</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="403" />
      <source>Geometry: {field}</source>
      <translation>Géométrie : {field}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="95" />
      <source>Give an imagery layer or a GDAL path/URL to download from.</source>
      <translation>Indiquez une couche d'imagerie ou un chemin/URL GDAL à partir duquel télécharger.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="486" />
      <source>Give either --before and --after detection GeoPackages, or --model, --before-raster, --after-raster and --extent.</source>
      <translation>Indiquez soit les GeoPackages de détections --before et --after, soit --model, --before-raster, --after-raster et --extent.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="177" />
      <source>Give either two detection layers, or two imagery layers with a model and an extent.</source>
      <translation>Indiquez soit deux couches de détections, soit deux couches d'imagerie avec un modèle et une emprise.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="315" />
      <source>Give one of --catalog, --stac-api or --postgis (one source of shared results).</source>
      <translation>Indiquez un seul de --catalog, --stac-api ou --postgis (une seule source de résultats partagés).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/dask_runtime.py" line="101" />
      <source>Give the Dask scheduler address, like tcp://host:8786.</source>
      <translation>Indiquez l'adresse de l'ordonnanceur Dask, par exemple tcp://hôte:8786.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="146" />
      <source>Give the STAC API URL.</source>
      <translation>Indiquez l'URL de l'API STAC.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="85" />
      <source>Give the address (URL) of the source.</source>
      <translation>Indiquez l'adresse (URL) de la source.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="75" />
      <source>Give the address of a model catalog first.</source>
      <translation>Indiquez d'abord l'adresse d'un catalogue de modèles.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/opendata_load.py" line="69" />
      <source>Give the id of the dataset to load.</source>
      <translation>Indiquez l'identifiant du jeu de données à charger.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="133" />
      <source>Give the portal a name.</source>
      <translation>Donnez un nom au portail.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="148" />
      <source>Give the results catalog folder or its catalog.json URL.</source>
      <translation>Indiquez le dossier du catalogue de résultats ou l'URL de son catalog.json.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="80" />
      <source>Give the source a name.</source>
      <translation>Donnez un nom à la source.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="94" />
      <source>Guided session</source>
      <translation>Session guidée</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="95" />
      <source>Guided session (training)</source>
      <translation>Session guidée (formation)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/report.py" line="95" />
      <source>HTML files (*.html)</source>
      <translation>Fichiers HTML (*.html)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/report.py" line="94" />
      <source>HTML version</source>
      <translation>Version HTML</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="590" />
      <source>HTML version: {path}</source>
      <translation>Version HTML : {path}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="160" />
      <source>Hide each part of the crop with a grey square, run the model again and map the score drop.</source>
      <translation>Masquer chaque partie de l'extrait par un carré gris, relancer le modèle et cartographier la baisse du score.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="47" />
      <source>INSEE code</source>
      <translation>code INSEE</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="129" />
      <source>IdF HR</source>
      <translation>IdF HR</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="294" />
      <source>IdF HR change detection</source>
      <translation>Détection de changements IdF HR</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="914" />
      <source>IdF HR detection</source>
      <translation>Détection IdF HR</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/detection.py" line="255" />
      <source>IdF HR detections by class</source>
      <translation>Détections IdF HR par classe</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="79" />
      <source>IdF HR imagery panel</source>
      <translation>Panneau d'imagerie IdF HR</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="246" />
      <source>IdF HR is set to work offline (Settings › IdF HR): searching needs the network.</source>
      <translation>IdF HR est réglé pour travailler hors ligne (Paramètres › IdF HR) : la recherche a besoin du réseau.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="221" />
      <source>IdF HR is set to work offline and {what} is not in the local cache. Switch the network back on in Settings › IdF HR, or load one of the cached datasets.</source>
      <translation>IdF HR est configuré pour travailler hors ligne et {what} n'est pas dans le cache local. Réactivez le réseau dans Préférences › Options › IdF HR, ou chargez l'un des jeux de données en cache.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/offline_kit.py" line="112" />
      <source>IdF HR offline kit — {zone}</source>
      <translation>Kit hors ligne IdF HR — {zone}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="354" />
      <source>IdF HR statistics per zone</source>
      <translation>Statistiques par zone IdF HR</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="184" />
      <source>IdF HR — catalog footprints</source>
      <translation>IdF HR — emprises du catalogue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/dock.py" line="26" />
      <source>IdF HR — Île-de-France imagery</source>
      <translation>IdF HR — Ortho-imagerie d'Île-de-France</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/provider.py" line="42" />
      <source>IdF HR — Île-de-France very-high-resolution imagery</source>
      <translation>IdF HR — Ortho-imagerie très haute résolution d'Île-de-France</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="280" />
      <source>IdF HR: FttH coverage</source>
      <translation>IdF HR : couverture FttH</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="281" />
      <source>IdF HR: catalog search</source>
      <translation>IdF HR : recherche dans le catalogue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="617" />
      <source>IdF HR: communes and EPT</source>
      <translation>IdF HR : communes et EPT</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="381" />
      <source>IdF HR: dataset preview</source>
      <translation>IdF HR : aperçu du jeu de données</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="766" />
      <source>IdF HR: detection with {model}</source>
      <translation>IdF HR : détection avec {model}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="521" />
      <source>IdF HR: downloading a model</source>
      <translation>IdF HR : téléchargement d'un modèle</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/dask_runtime.py" line="77" />
      <source>IdF HR: installing Dask</source>
      <translation>IdF HR : installation de Dask</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/onnx_runtime_install.py" line="254" />
      <source>IdF HR: installing ONNX Runtime</source>
      <translation>IdF HR : installation d'ONNX Runtime</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="123" />
      <source>IdF HR: installing a shared model</source>
      <translation>IdF HR : installation d'un modèle partagé</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="488" />
      <source>IdF HR: load data.gouv.fr resource</source>
      <translation>IdF HR : chargement d'une ressource data.gouv.fr</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="471" />
      <source>IdF HR: load open data</source>
      <translation>IdF HR : chargement de données ouvertes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="555" />
      <source>IdF HR: load theme</source>
      <translation>IdF HR : chargement d'une thématique</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="285" />
      <source>IdF HR: open-data search</source>
      <translation>IdF HR : recherche de données ouvertes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="229" />
      <source>IdF HR: read columns</source>
      <translation>IdF HR : lecture des colonnes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="80" />
      <source>IdF HR: reading a model catalog</source>
      <translation>IdF HR : lecture d'un catalogue de modèles</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="178" />
      <source>IdF HR: shared results</source>
      <translation>IdF HR : résultats partagés</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="368" />
      <source>IdF HR: thumbnails</source>
      <translation>IdF HR : vignettes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="169" />
      <source>Imagery</source>
      <translation>Ortho-imagerie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="149" />
      <source>Imagery cache size</source>
      <translation>Taille du cache d'imagerie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="81" />
      <source>Imagery layer</source>
      <translation>Couche d'imagerie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="94" />
      <source>Imagery resolution in metres (empty: the one covering the zone best)</source>
      <translation>Résolution de l'imagerie en mètres (vide : celle qui couvre le mieux la zone)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="76" />
      <source>Imagery source id (empty: no imagery)</source>
      <translation>Identifiant de la source d'imagerie (vide : sans imagerie)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="186" />
      <source>Imagery {vintage}</source>
      <translation>Imagerie {vintage}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="531" />
      <source>Import an ONNX model</source>
      <translation>Importer un modèle ONNX</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="122" />
      <source>Import…</source>
      <translation>Importer…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="99" />
      <source>Indicator mapped on the zones</source>
      <translation>Indicateur cartographié sur les zones</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="145" />
      <source>Indicator on the map</source>
      <translation>Indicateur sur la carte</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="103" />
      <source>Input</source>
      <translation>Entrée</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="59" />
      <source>Install</source>
      <translation>Installer</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="316" />
      <source>Install Dask</source>
      <translation>Installer Dask</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="101" />
      <source>Install ONNX Runtime</source>
      <translation>Installer ONNX Runtime</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="374" />
      <source>Install ONNX Runtime first (button above).</source>
      <translation>Installez d'abord ONNX Runtime (bouton ci-dessus).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/onnx_runtime_install.py" line="217" />
      <source>Installation cancelled; nothing was installed.</source>
      <translation>Installation annulée ; rien n'a été installé.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="390" />
      <source>Installing ONNX Runtime…</source>
      <translation>Installation d'ONNX Runtime…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="103" />
      <source>Installs onnxruntime into a folder of your QGIS profile; QGIS's own packages are not changed.</source>
      <translation>Installe onnxruntime dans un dossier de votre profil QGIS ; les paquets propres à QGIS ne sont pas modifiés.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="101" />
      <source>Intended GSD</source>
      <translation>Résolution prévue (GSD)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="258" />
      <source>Interrupted; nothing was written.</source>
      <translation>Interrompu ; rien n'a été écrit.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="208" />
      <source>IoU</source>
      <translation>IoU</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="105" />
      <source>IoU threshold for NMS (empty: model's)</source>
      <translation>Seuil d'IoU pour la NMS (vide : celui du modèle)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="543" />
      <source>Its sha256 (64 hexadecimal characters, given by the publisher):</source>
      <translation>Son sha256 (64 caractères hexadécimaux, fourni par l'éditeur) :</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="275" />
      <source>Jobs {done}/{total}, about {eta} s left</source>
      <translation>Lots {done}/{total}, encore environ {eta} s</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="67" />
      <source>Kind</source>
      <translation>Type</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="81" />
      <source>Kind of the URL</source>
      <translation>Type de l'URL</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="133" />
      <source>Kit folder (new)</source>
      <translation>Dossier du kit (nouveau)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="113" />
      <source>Known limits</source>
      <translation>Limites connues</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="257" />
      <source>Known limits of the model</source>
      <translation>Limites connues du modèle</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="128" />
      <source>Label the footprints</source>
      <translation>Étiqueter les emprises</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="706" />
      <source>Large detection</source>
      <translation>Détection de grande ampleur</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="314" />
      <source>Largest score drop: {drop:.2f} (score {score:.2f} without a patch), {runs} model runs in {s:.1f} s.</source>
      <translation>Plus forte baisse du score : {drop:.2f} (score {score:.2f} sans masque), {runs} exécutions du modèle en {s:.1f} s.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="419" />
      <source>Last update: {date}</source>
      <translation>Dernière mise à jour : {date}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="178" />
      <source>Layer name in the GeoPackage</source>
      <translation>Nom de la couche dans le GeoPackage</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="147" />
      <source>Leave empty to use the default names.</source>
      <translation>Laissez vide pour utiliser les noms par défaut.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/fibre_coverage.py" line="67" />
      <source>Level</source>
      <translation>Niveau</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="110" />
      <source>Licence</source>
      <translation>Licence</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="417" />
      <source>Licence: {licence}</source>
      <translation>Licence : {licence}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="41" />
      <source>List models</source>
      <translation>Lister les modèles</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="65" />
      <source>List shared results</source>
      <translation>Lister les résultats partagés</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="176" />
      <source>Listing shared results…</source>
      <translation>Liste des résultats partagés en cours…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="103" />
      <source>Load</source>
      <translation>Charger</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="108" />
      <source>Load all records</source>
      <translation>Charger tous les enregistrements</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/opendata_load.py" line="33" />
      <source>Load an open dataset (Opendatasoft portal)</source>
      <translation>Charger un jeu de données ouvertes (portail Opendatasoft)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="134" />
      <source>Load cached</source>
      <translation>Charger depuis le cache</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="213" />
      <source>Load resource</source>
      <translation>Charger la ressource</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="692" />
      <source>Load the commune boundaries in the Open data tab first.</source>
      <translation>Chargez d'abord les limites des communes dans l'onglet Données ouvertes.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="121" />
      <source>Load theme</source>
      <translation>Charger la thématique</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="536" />
      <source>Loaded: {names}.</source>
      <translation>Chargé : {names}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="474" />
      <source>Loading every record of {title}…</source>
      <translation>Chargement de tous les enregistrements de {title}…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="627" />
      <source>Loading the communes and EPT…</source>
      <translation>Chargement des communes et des EPT…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="558" />
      <source>Loading the theme {name}…</source>
      <translation>Chargement de la thématique {name}…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/opendata_load.py" line="39" />
      <source>Loads ALL records of a dataset of an Opendatasoft portal (Explore API v2.1, GeoJSON export: no 100-record page, no 10,000-record cap), optionally filtered by an ODSQL where clause and by an extent. PORTAL is a portal address or a preset key (mgp, paris). The dataset is also kept in the IdF HR offline cache; without network the cached copy is used. Licence, source and retrieval date are written into the output's metadata.</source>
      <translation>Charge TOUS les enregistrements d'un jeu de données d'un portail Opendatasoft (Explore API v2.1, export GeoJSON : pas de pagination à 100 enregistrements, pas de plafond à 10 000 enregistrements), éventuellement filtrés par une clause where ODSQL et par une emprise. PORTAIL est l'adresse d'un portail ou une clé prédéfinie (mgp, paris). Le jeu de données est aussi conservé dans le cache hors ligne d'IdF HR ; sans réseau, la copie en cache est utilisée. La licence, la source et la date de récupération sont inscrites dans les métadonnées de la sortie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="123" />
      <source>Loads the datasets of the theme from the MGP portal with a ready-made style.</source>
      <translation>Charge les jeux de données de la thématique depuis le portail de la MGP avec un style prêt à l'emploi.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="299" />
      <source>Local Dask cluster</source>
      <translation>Grappe Dask locale</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="49" />
      <source>Login of the STAC API (QGIS authentication manager); none if it is open.</source>
      <translation>Identifiant de l'API STAC (gestionnaire d'authentification de QGIS) ; aucun si elle est ouverte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="138" />
      <source>MB</source>
      <translation>Mo</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="130" />
      <source>MGP communes</source>
      <translation>Communes de la MGP</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="169" />
      <source>MGP open-data portal</source>
      <translation>Portail de données ouvertes de la MGP</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/fibre_coverage.py" line="124" />
      <source>MGP {q}: {pct} % of premises connectable.</source>
      <translation>MGP {q} : {pct} % de locaux raccordables.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_model.py" line="48" />
      <source>MLM item</source>
      <translation>Item MLM</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="153" />
      <source>Make a PDF/HTML report of the selected result layer.</source>
      <translation>Produire un rapport PDF/HTML de la couche de résultat sélectionnée.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="83" />
      <source>Map extent</source>
      <translation>Emprise de la carte</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="186" />
      <source>Mask layer</source>
      <translation>Couche de masque</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="98" />
      <source>Mask polygons (tiles and detections outside are dropped)</source>
      <translation>Polygones de masque (les tuiles et détections situées en dehors sont écartées)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="123" />
      <source>Max. resolution</source>
      <translation>Résolution max.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="99" />
      <source>Maximum ground sample distance (m)</source>
      <translation>Résolution au sol maximale (m)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="108" />
      <source>Maximum number of results</source>
      <translation>Nombre maximal de résultats</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="151" />
      <source>Maximum search results</source>
      <translation>Nombre maximal de résultats de recherche</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="112" />
      <source>Measured accuracy</source>
      <translation>Précision mesurée</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="115" />
      <source>Metropolitan themes (MGP)</source>
      <translation>Thématiques métropolitaines (MGP)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="91" />
      <source>Model</source>
      <translation>Modèle</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="147" />
      <source>Model card</source>
      <translation>Fiche de modèle</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="216" />
      <source>Model published: {path}</source>
      <translation>Modèle publié : {path}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="227" />
      <source>Model run again on {name}</source>
      <translation>Modèle relancé sur {name}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="224" />
      <source>Model type</source>
      <translation>Type de modèle</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="136" />
      <source>Model type (automatic: read from the model)</source>
      <translation>Type de modèle (automatique : lu dans le modèle)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="517" />
      <source>Model “{name}” downloaded and verified.</source>
      <translation>Modèle « {name} » téléchargé et vérifié.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="502" />
      <source>Model “{name}” imported into {folder}.</source>
      <translation>Modèle « {name} » importé dans {folder}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="119" />
      <source>Model “{name}” installed, its checksum verified.</source>
      <translation>Modèle « {name} » installé, somme de contrôle vérifiée.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="569" />
      <source>Model “{name}” published in {folder}: partners add this folder as a shared catalog.</source>
      <translation>Modèle « {name} » publié dans {folder} : vos partenaires peuvent ajouter ce dossier comme catalogue partagé.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="92" />
      <source>Model's STAC MLM item (URL)</source>
      <translation>Item STAC MLM du modèle (URL)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="168" />
      <source>Models folder</source>
      <translation>Dossier des modèles</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="33" />
      <source>Models from a shared catalog (STAC MLM)</source>
      <translation>Modèles d'un catalogue partagé (STAC MLM)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="129" />
      <source>Models of a STAC MLM catalog: cards first, checksum verified.</source>
      <translation>Modèles d'un catalogue STAC MLM : fiche affichée avant le téléchargement, somme de contrôle vérifiée.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="375" />
      <source>Métropole du Grand Paris, {q}: {pct} % of premises connectable ({num} of {den}).</source>
      <translation>Métropole du Grand Paris, {q} : {pct} % de locaux raccordables ({num} sur {den}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_widgets.py" line="36" />
      <source>Name</source>
      <translation>Nom</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="245" />
      <source>Name two different vintages, e.g. 2024,2026.</source>
      <translation>Indiquez deux millésimes différents, p. ex. 2024,2026.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="94" />
      <source>Names of the two vintages</source>
      <translation>Noms des deux millésimes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="93" />
      <source>Names of the two vintages, stored with every result.</source>
      <translation>Noms des deux millésimes, enregistrés avec chaque résultat.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="106" />
      <source>Net change, new − removed (change layer)</source>
      <translation>Solde, nouveaux − disparus (couche de changements)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="150" />
      <source>Network timeout</source>
      <translation>Délai d'attente réseau</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="52" />
      <source>New objects</source>
      <translation>Nouveaux objets</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="104" />
      <source>New objects (change layer)</source>
      <translation>Nouveaux objets (couche de changements)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="125" />
      <source>Next</source>
      <translation>Suivant</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="450" />
      <source>No ARCEP file given: the bundled ARCEP snapshot was used ({vintage}; {source}; {licence}). Pick newer ARCEP files for current figures.</source>
      <translation>Aucun fichier ARCEP choisi : l'instantané ARCEP fourni avec l'extension a été utilisé ({vintage} ; {source} ; {licence}). Choisissez des fichiers ARCEP plus récents pour des chiffres à jour.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="544" />
      <source>No MGP commune of the boundaries has FttH figures in {file}: check that the file covers Île-de-France and that its INSEE column is right.</source>
      <translation>Aucune commune de la MGP figurant dans les limites n'a de données FttH dans {file} : vérifiez que le fichier couvre l'Île-de-France et que sa colonne INSEE est correcte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="398" />
      <source>No MGP commune was found in {source}: it needs a code (INSEE) property.</source>
      <translation>Aucune commune de la MGP n'a été trouvée dans {source} : une propriété code (INSEE) est nécessaire.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="312" />
      <source>No cached dataset matches. Datasets loaded once online are kept for offline use: search again once the network is back.</source>
      <translation>Aucun jeu de données en cache ne correspond. Les jeux chargés une fois en ligne sont conservés pour le travail hors ligne : relancez la recherche quand le réseau sera revenu.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="257" />
      <source>No catalog source is enabled: add one in Settings › IdF HR.</source>
      <translation>Aucune source de catalogue n'est activée : ajoutez-en une dans Préférences › Options › IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="341" />
      <source>No dataset matches: try other words, another theme, or untick the filters.</source>
      <translation>Aucun jeu de données ne correspond : essayez d'autres mots, une autre thématique, ou décochez les filtres.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="176" />
      <source>No detection layer yet: run one first</source>
      <translation>Lancez d'abord une détection</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="367" />
      <source>No detection or change of IdF HR under the cursor; click inside a detected object.</source>
      <translation>Aucune détection ni aucun changement IdF HR sous le curseur ; cliquez à l'intérieur d'un objet détecté.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="121" />
      <source>No file? Compute uses the ARCEP snapshot bundled with the plugin: {vintage}, {licence} ({source}).</source>
      <translation>Pas de fichier ? Calculer utilise l'instantané ARCEP fourni avec l'extension : {vintage}, {licence} ({source}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="405" />
      <source>No geometry field.</source>
      <translation>Aucun champ de géométrie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="466" />
      <source>No model yet: import an .onnx model (Import…) or download one (Download…). The bundled demo model appears here once it has been built (make model).</source>
      <translation>Aucun modèle pour l'instant : importez un modèle .onnx (Importer…) ou téléchargez-en un (Télécharger…). Le modèle de démonstration fourni apparaît ici une fois construit (make model).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="336" />
      <source>No quarter {q} in the loaded data.</source>
      <translation>Aucun trimestre {q} dans les données chargées.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="312" />
      <source>No results here: widen the extent or the dates, or pick another source.</source>
      <translation>Aucun résultat ici : élargissez l'emprise ou les dates, ou choisissez une autre source.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="204" />
      <source>No shared result matches: widen the extent, the dates or the filters.</source>
      <translation>Aucun résultat partagé ne correspond : élargissez l'emprise, les dates ou les filtres.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="551" />
      <source>Not found: {ids}.</source>
      <translation>Introuvable : {ids}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="546" />
      <source>Not in the local cache: {ids} (load the theme again once online).</source>
      <translation>Absents du cache local : {ids} (rechargez le thème une fois en ligne).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="262" />
      <source>Note</source>
      <translation>Remarque</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/render.py" line="31" />
      <source>Nothing to render: no layer was given.</source>
      <translation>Rien à rendre : aucune couche n'a été fournie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="49" />
      <source>Number of objects</source>
      <translation>Nombre d'objets</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="39" />
      <source>OGC WMTS service</source>
      <translation>Service WMTS de l'OGC</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="427" />
      <source>ONNX Runtime installed in {path}; detections can run now.</source>
      <translation>ONNX Runtime installé dans {path} ; les détections peuvent maintenant s'exécuter.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="368" />
      <source>ONNX Runtime is not installed in this QGIS, so detections cannot run. Install it with one click (about 20 MB, into your QGIS profile; QGIS itself is not changed).</source>
      <translation>ONNX Runtime n'est pas installé dans ce QGIS : les détections ne peuvent donc pas s'exécuter. Installez-le en un clic (environ 20 Mo, dans votre profil QGIS ; QGIS lui-même n'est pas modifié).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="24" />
      <source>ONNX Runtime not installed</source>
      <translation>ONNX Runtime non installé</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="412" />
      <source>ONNX Runtime was installed in {path}, but this QGIS session cannot load it ({err}). Restart QGIS, then run the detection.</source>
      <translation>ONNX Runtime a été installé dans {path}, mais cette session QGIS ne peut pas le charger ({err}). Redémarrez QGIS, puis lancez la détection.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="85" />
      <source>ONNX model (file, or the name of a model of the model manager)</source>
      <translation>Modèle ONNX (fichier, ou nom d'un modèle du gestionnaire de modèles)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_model.py" line="37" />
      <source>ONNX model file (or its model card .json)</source>
      <translation>Fichier de modèle ONNX (ou sa fiche de modèle .json)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="80" />
      <source>ONNX model run on both images</source>
      <translation>Modèle ONNX exécuté sur les deux images</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="90" />
      <source>ONNX models (*.onnx)</source>
      <translation>Modèles ONNX (*.onnx)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="130" />
      <source>ONNX models (with their cards)</source>
      <translation>Modèles ONNX (avec leurs fiches)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="692" />
      <source>Object {fid} of '{layer}': {label}, score {score} (classes: {pairs}); run {run} of {date}.</source>
      <translation>Objet {fid} de « {layer} » : {label}, score {score} (classes : {pairs}) ; exécution {run} du {date}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="53" />
      <source>Objects gone</source>
      <translation>Objets disparus</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="102" />
      <source>Objects per analysed km²</source>
      <translation>Objets par km² analysé</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="50" />
      <source>Objects per km² analysed</source>
      <translation>Objets par km² analysé</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="201" />
      <source>Objects scored below this confidence are dropped.</source>
      <translation>Les objets dont le score est inférieur à cette confiance sont écartés.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="687" />
      <source>Occlusion map</source>
      <translation>Carte d'occultation</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="411" />
      <source>Offline kit for {zone}:</source>
      <translation>Kit hors ligne pour {zone} :</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="420" />
      <source>Offline kit written: {path} ({size}, {n} parts, {resumed} resumed).</source>
      <translation>Kit hors ligne écrit : {path} ({size}, {n} éléments, dont {resumed} repris).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="73" />
      <source>Offline pack</source>
      <translation>Paquet hors ligne</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="167" />
      <source>Offline pack written: {path} ({mb} MB, {mpx} Mpx, {s} s{resumed}).</source>
      <translation>Paquet hors ligne écrit : {path} ({mb} Mo, {mpx} Mpx, {s} s{resumed}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="227" />
      <source>Offline: loaded the cached copy ({age}).</source>
      <translation>Hors ligne : copie en cache chargée ({age}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="94" />
      <source>One folder with a project, imagery, boundaries, fibre and models, to work offline</source>
      <translation>Un dossier avec un projet, l'imagerie, les limites, la fibre et les modèles, pour travailler hors ligne</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="116" />
      <source>Only results at this ground sample distance or finer.</source>
      <translation>Uniquement les résultats à cette résolution au sol ou plus fine.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="107" />
      <source>Only the map extent</source>
      <translation>Uniquement l'emprise de la carte</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/opendata_load.py" line="56" />
      <source>Only this extent</source>
      <translation>Uniquement cette emprise</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="67" />
      <source>Open data</source>
      <translation>Données ouvertes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="124" />
      <source>Open-data files (cached GeoPackages or any vector files)</source>
      <translation>Fichiers de données ouvertes (GeoPackages en cache ou tout fichier vecteur)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="114" />
      <source>Optional: building-level file (IPE) with imb_etat</source>
      <translation>Facultatif : fichier à l'immeuble (IPE) avec imb_etat</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="111" />
      <source>Optional: communes file (default: geo.api.gouv.fr; offline: bundled IGN boundaries)</source>
      <translation>Facultatif : fichier des communes (par défaut : geo.api.gouv.fr ; hors ligne : limites IGN fournies)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="69" />
      <source>Or imagery, first vintage</source>
      <translation>Ou imagerie, premier millésime</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/change_detection.py" line="74" />
      <source>Or imagery, second vintage</source>
      <translation>Ou imagerie, second millésime</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="71" />
      <source>Or/and: extent of the imagery</source>
      <translation>Ou/et : emprise de l'imagerie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="57" />
      <source>Or: GDAL path or URL of the imagery</source>
      <translation>Ou : chemin ou URL GDAL de l'imagerie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="77" />
      <source>Or: catalog URL</source>
      <translation>Ou : URL du catalogue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="83" />
      <source>Or: static STAC catalog URL</source>
      <translation>Ou : URL d'un catalogue STAC statique</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="779" />
      <source>Other state</source>
      <translation>Autre état</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="111" />
      <source>Output</source>
      <translation>Sortie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="206" />
      <source>Overlapping boxes above this IoU are merged (non-maximum suppression).</source>
      <translation>Les boîtes qui se chevauchent au-delà de cet IoU sont fusionnées (suppression des non-maxima).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="57" />
      <source>PDF file</source>
      <translation>Fichier PDF</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="56" />
      <source>PDF files (*.pdf)</source>
      <translation>Fichiers PDF (*.pdf)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/report.py" line="88" />
      <source>PDF report</source>
      <translation>Rapport PDF</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="87" />
      <source>PDF report of the run</source>
      <translation>Rapport PDF de l'exécution</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="170" />
      <source>Paris open-data portal</source>
      <translation>Portail de données ouvertes de Paris</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="64" />
      <source>Partner</source>
      <translation>Partenaire</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="64" />
      <source>Partner (your organisation, e.g. Vincennes)</source>
      <translation>Partenaire (votre organisation, p. ex. Vincennes)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="409" />
      <source>Pick a file (or give a URL).</source>
      <translation>Choisissez un fichier (ou indiquez une URL).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="146" />
      <source>Pick a portal and search.</source>
      <translation>Choisissez un portail et lancez la recherche.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="434" />
      <source>Pick a resource (GeoJSON, CSV with coordinates, zipped shapefile, GeoPackage) and press Load.</source>
      <translation>Choisissez une ressource (GeoJSON, CSV avec coordonnées, shapefile zippé, GeoPackage) et cliquez sur Charger.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="136" />
      <source>Pick a source and search.</source>
      <translation>Choisissez une source et lancez la recherche.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="266" />
      <source>Pick the ARCEP FttH deployment file that goes with the premises file.</source>
      <translation>Choisissez le fichier de déploiement FttH de l'ARCEP qui va avec le fichier des locaux.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="172" />
      <source>Pick the ARCEP FttH file and the premises file (or none: bundled snapshot), then Compute.</source>
      <translation>Choisissez le fichier FttH de l'ARCEP et le fichier des locaux (ou aucun : instantané fourni), puis Calculer.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="88" />
      <source>Portal</source>
      <translation>Portail</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/opendata_load.py" line="49" />
      <source>Portal (address or mgp / paris)</source>
      <translation>Portail (adresse ou mgp / paris)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="43" />
      <source>PostGIS (saved connection)</source>
      <translation>PostGIS (connexion enregistrée)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="116" />
      <source>Premises</source>
      <translation>Locaux</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="44" />
      <source>Prepare an offline kit</source>
      <translation>Préparer un kit hors ligne</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="92" />
      <source>Prepare an offline kit…</source>
      <translation>Préparer un kit hors ligne…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="412" />
      <source>Press Load to add all {n} records as a layer.</source>
      <translation>Cliquez sur Charger pour ajouter les {n} enregistrements sous forme de couche.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="123" />
      <source>Previous</source>
      <translation>Précédent</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/report.py" line="100" />
      <source>Print layout name</source>
      <translation>Nom de la mise en page</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_model.py" line="19" />
      <source>Publish a model to a shared catalog (STAC MLM)</source>
      <translation>Publier un modèle dans un catalogue partagé (STAC MLM)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="40" />
      <source>Publish a result for the partners (STAC, PostGIS)</source>
      <translation>Publier un résultat pour les partenaires (STAC, PostGIS)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="75" />
      <source>Publish a result…</source>
      <translation>Publier un résultat…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="576" />
      <source>Publish this model into a catalog folder</source>
      <translation>Publier ce modèle dans un dossier de catalogue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="131" />
      <source>Publish this model…</source>
      <translation>Publier ce modèle…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="421" />
      <source>Publisher: {name}</source>
      <translation>Éditeur : {name}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="46" />
      <source>Publishes a detection, change or zone-statistics layer (GeoPackage) with its provenance: a STAC item (analysed area, imagery vintage, model and its sha256, run cost, counts per class, partner; the objects as a GeoPackage and the PDF report as assets) into a results catalog folder, and/or the features into a PostGIS store shared by the partners (tables idfhr_results and idfhr_runs), through a PostgreSQL connection saved in QGIS and its authentication configuration. Publishing the same run again replaces it; another partner's results are never touched. Give a catalog folder, a connection, or both. A STAC API with the Transactions extension can also receive the item (its assets stay in the catalog folder, served at the assets URL); its login comes from an authentication configuration.</source>
      <translation>Publie une couche de détections, de changements ou de statistiques par zone (GeoPackage) avec sa provenance : un item STAC (zone analysée, millésime de l'imagerie, modèle et son sha256, coût de l'exécution, effectifs par classe, partenaire ; les objets en GeoPackage et le rapport PDF comme ressources) dans un dossier de catalogue de résultats, et/ou les entités dans une base PostGIS partagée par les partenaires (tables idfhr_results et idfhr_runs), via une connexion PostgreSQL enregistrée dans QGIS et sa configuration d'authentification. Publier de nouveau la même exécution la remplace ; les résultats d'un autre partenaire ne sont jamais modifiés. Indiquez un dossier de catalogue, une connexion, ou les deux. Une API STAC dotée de l'extension Transactions peut aussi recevoir l'item (ses ressources restent dans le dossier du catalogue, servies à l'URL des ressources) ; son identifiant vient d'une configuration d'authentification.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="631" />
      <source>QGIS could not open the cached dataset {path}; delete it and load the dataset again.</source>
      <translation>QGIS n'a pas pu ouvrir le jeu de données en cache {path} ; supprimez-le et chargez à nouveau le jeu de données.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="148" />
      <source>QGIS could not open the imagery of {name}: {error}</source>
      <translation>QGIS n'a pas pu ouvrir l'imagerie de {name} : {error}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/offline_kit.py" line="136" />
      <source>QGIS could not open the kit imagery {path}.</source>
      <translation>QGIS n'a pas pu ouvrir l'imagerie du kit {path}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/offline_kit.py" line="120" />
      <source>QGIS could not open the kit layer {path}.</source>
      <translation>QGIS n'a pas pu ouvrir la couche du kit {path}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/shared_results.py" line="100" />
      <source>QGIS could not open the run {run} of '{partner}' from the connection '{name}': {err}</source>
      <translation>QGIS n'a pas pu ouvrir l'exécution {run} de « {partner} » depuis la connexion « {name} » : {err}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="650" />
      <source>QGIS could not open {path}.</source>
      <translation>QGIS n'a pas pu ouvrir {path}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/offline_kit.py" line="86" />
      <source>QGIS could not write the project {path}: {error}</source>
      <translation>QGIS n'a pas pu écrire le projet {path} : {error}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/shared_results.py" line="33" />
      <source>QGIS's PostgreSQL provider is not available in this QGIS installation.</source>
      <translation>Le fournisseur PostgreSQL de QGIS n'est pas disponible dans cette installation de QGIS.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="168" />
      <source>Quarter</source>
      <translation>Trimestre</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/fibre_coverage.py" line="71" />
      <source>Quarter (e.g. T1 2018; empty: all)</source>
      <translation>Trimestre (p. ex. T1 2018 ; vide : tous)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="110" />
      <source>Quit QGIS (asking to save your project) and start it again.</source>
      <translation>Quitter QGIS (en proposant d'enregistrer votre projet) et le relancer.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="137" />
      <source>Read columns</source>
      <translation>Lire les colonnes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="139" />
      <source>Read the headers of the files and match the columns by name; change any that is wrong.</source>
      <translation>Lire les en-têtes des fichiers et associer les colonnes par leur nom ; corrigez celles qui sont erronées.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="229" />
      <source>Reading the headers…</source>
      <translation>Lecture des en-têtes…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="384" />
      <source>Reading {title}…</source>
      <translation>Lecture de {title}…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="78" />
      <source>Reading {url}…</source>
      <translation>Lecture de {url}…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="394" />
      <source>Records: {n}</source>
      <translation>Enregistrements : {n}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="174" />
      <source>Rectangle drawn on the map</source>
      <translation>Rectangle tracé sur la carte</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="639" />
      <source>Rectangle of {w} × {h} map units set.</source>
      <translation>Rectangle de {w} × {h} unités de carte défini.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="219" />
      <source>Rectangle set; press Search.</source>
      <translation>Rectangle défini ; cliquez sur Rechercher.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="135" />
      <source>Refresh list</source>
      <translation>Actualiser la liste</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="127" />
      <source>Remove</source>
      <translation>Supprimer</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="130" />
      <source>Remove the layers added since the session started, clear the selections and the results, go back to step 1 and to the demo view.</source>
      <translation>Retirer les couches ajoutées depuis le début de la session, vider les sélections et les résultats, revenir à l'étape 1 et à la vue de démonstration.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="105" />
      <source>Removed objects (change layer)</source>
      <translation>Objets disparus (couche de changements)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="540" />
      <source>Renamed on the portal: {pairs} (set the new ids in the settings).</source>
      <translation>Renommés sur le portail : {pairs} (indiquez les nouveaux identifiants dans les paramètres).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="31" />
      <source>Report (PDF print layout)</source>
      <translation>Rapport (mise en page PDF)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="44" />
      <source>Report language</source>
      <translation>Langue du rapport</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="588" />
      <source>Report written: {path}</source>
      <translation>Rapport écrit : {path}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="125" />
      <source>Report written: {pdf}. Its layout '{layout}' is in the project's layout manager.</source>
      <translation>Rapport écrit : {pdf}. Sa mise en page '{layout}' figure dans le gestionnaire de mises en page du projet.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="152" />
      <source>Report…</source>
      <translation>Rapport…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="127" />
      <source>Reset for the next participant</source>
      <translation>Réinitialiser pour le participant suivant</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="67" />
      <source>Resolution in map units (empty: native)</source>
      <translation>Résolution en unités de carte (vide : native)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="109" />
      <source>Restart QGIS</source>
      <translation>Redémarrer QGIS</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="422" />
      <source>Restart QGIS first (button above).</source>
      <translation>Redémarrez d'abord QGIS (bouton ci-dessus).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="128" />
      <source>Restore defaults</source>
      <translation>Restaurer les valeurs par défaut</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="120" />
      <source>Restrict to one collection (empty: all).</source>
      <translation>Restreindre à une collection (vide : toutes).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="42" />
      <source>Results catalog (folder or URL)</source>
      <translation>Catalogue de résultats (dossier ou URL)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="69" />
      <source>Results catalog folder (STAC; created when absent)</source>
      <translation>Dossier du catalogue de résultats (STAC ; créé s'il n'existe pas)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="612" />
      <source>Retrieved on {date} (UTC) by IdF HR.</source>
      <translation>Récupéré le {date} (UTC) par IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="611" />
      <source>Retrieved on {date} (UTC).</source>
      <translation>Récupéré le {date} (UTC).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="251" />
      <source>Run</source>
      <translation>Exécution</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="250" />
      <source>Run detection</source>
      <translation>Lancer la détection</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="117" />
      <source>Run id</source>
      <translation>Identifiant d'exécution</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="304" />
      <source>Run on</source>
      <translation>Exécuter sur</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="177" />
      <source>Run report (JSON)</source>
      <translation>Rapport d'exécution (JSON)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/dask_runtime.py" line="87" />
      <source>Running on a Dask cluster needs the Python packages dask, distributed and pyarrow, which this QGIS lacks: install them from the Detection tab (Advanced: where to run, Install Dask), or run on this computer.</source>
      <translation>L'exécution sur une grappe Dask demande les paquets Python dask, distributed et pyarrow, absents de ce QGIS : installez-les depuis l'onglet Détection (Avancé : où exécuter, Installer Dask), ou exécutez sur cet ordinateur.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/dask_runtime.py" line="53" />
      <source>Running on a Dask cluster needs the Python packages dask, distributed and pyarrow: install them with the button below (into a folder of your QGIS profile), or run on this computer.</source>
      <translation>L'exécution sur une grappe Dask demande les paquets Python dask, distributed et pyarrow : installez-les avec le bouton ci-dessous (dans un dossier de votre profil QGIS), ou exécutez sur cet ordinateur.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="67" />
      <source>Runs a local ONNX model (Ultralytics YOLO, Deepness or any model with an IdF HR card) over an extent of a raster layer, window by window at the model's resolution, on this computer (no cloud). Optional mask: only tiles touching the polygons are run and detections outside them are dropped (tick 'Selected features only' to use the selection). Confidence and IoU default to the model's values when left empty. The result is one layer in a GeoPackage (written atomically) with class, label, score, area, model + sha256, source, vintage and run id, plus the run report (duration, CPU time, km², energy estimate) in its idfhr_runs table. Advanced: where to run — this computer, a local Dask cluster of N worker processes, or a Dask scheduler address (the imagery must be a file or URL the workers can open).</source>
      <translation>Exécute un modèle ONNX local (Ultralytics YOLO, Deepness ou tout modèle doté d'une fiche IdF HR) sur une emprise d'une couche raster, fenêtre par fenêtre à la résolution du modèle, sur cet ordinateur (sans nuage). Masque facultatif : seules les dalles touchant les polygones sont traitées et les détections hors de ceux-ci sont écartées (cochez « Entités sélectionnées uniquement » pour utiliser la sélection). La confiance et l'IoU prennent les valeurs du modèle si elles sont laissées vides. Le résultat est une couche dans un GeoPackage (écrit de façon atomique) avec classe, libellé, score, surface, modèle + sha256, source, millésime et identifiant d'exécution, plus le rapport d'exécution (durée, temps CPU, km², estimation de l'énergie) dans sa table idfhr_runs. Avancé : où exécuter — cet ordinateur, une grappe Dask locale de N processus de travail, ou l'adresse d'un ordonnanceur Dask (l'imagerie doit être un fichier ou une URL que les processus de travail peuvent ouvrir).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="114" />
      <source>Runs on</source>
      <translation>S'exécute sur</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="66" />
      <source>Runs published by the partners, within the extent and dates above.</source>
      <translation>Exécutions publiées par les partenaires, dans l'emprise et les dates ci-dessus.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="40" />
      <source>STAC API</source>
      <translation>API STAC</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="44" />
      <source>STAC API (URL of the API or of its collection)</source>
      <translation>API STAC (URL de l'API ou de sa collection)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="113" />
      <source>STAC API authentication</source>
      <translation>Authentification de l'API STAC</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="104" />
      <source>STAC API collection</source>
      <translation>Collection de l'API STAC</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="116" />
      <source>STAC API item (URL)</source>
      <translation>Item de l'API STAC (URL)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="98" />
      <source>STAC API with transactions (URL; needs the catalog folder)</source>
      <translation>API STAC avec transactions (URL ; demande le dossier du catalogue)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="115" />
      <source>STAC item</source>
      <translation>Item STAC</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="137" />
      <source>Save a PostgreSQL connection in QGIS (Data Source Manager &gt; PostgreSQL) first.</source>
      <translation>Enregistrez d'abord une connexion PostgreSQL dans QGIS (Gestionnaire des sources de données &gt; PostgreSQL).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="145" />
      <source>Save the imagery of an extent to a local file for offline work.</source>
      <translation>Enregistrer l'imagerie d'une emprise dans un fichier local pour travailler hors ligne.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="311" />
      <source>Scheduler</source>
      <translation>Ordonnanceur</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="126" />
      <source>Search</source>
      <translation>Rechercher</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="58" />
      <source>Search imagery catalog</source>
      <translation>Rechercher dans le catalogue d'imagerie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="64" />
      <source>Searches a catalog source (STAC API, static STAC catalog, WMTS service or the demo region) by extent, date range, collections and maximum ground sample distance, and outputs one footprint polygon per result with its item id, date, GSD, collection and asset addresses. SOURCE is the id of a source configured in the IdF HR settings (e.g. “demo”, “ign-geopf”); or give a URL and its kind.</source>
      <translation>Interroge une source de catalogue (API STAC, catalogue STAC statique, service WMTS ou région de démonstration) par emprise, période, collections et résolution au sol maximale, et produit un polygone d'emprise par résultat avec son identifiant d'item, sa date, sa GSD, sa collection et les adresses de ses assets. SOURCE est l'identifiant d'une source configurée dans les paramètres d'IdF HR (p. ex. « demo », « ign-geopf ») ; ou indiquez une URL et son type.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="284" />
      <source>Searching {name}…</source>
      <translation>Recherche dans {name}…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="88" />
      <source>Second imagery</source>
      <translation>Seconde imagerie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="86" />
      <source>Second vintage</source>
      <translation>Second millésime</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="578" />
      <source>Select a cached dataset first.</source>
      <translation>Sélectionnez d'abord un jeu de données en cache.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="444" />
      <source>Select a dataset first.</source>
      <translation>Sélectionnez d'abord un jeu de données.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="449" />
      <source>Select a resource to load.</source>
      <translation>Sélectionnez une ressource à charger.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/detection.py" line="169" />
      <source>Select at least one polygon in the layer “{name}” (the mask of the detection).</source>
      <translation>Sélectionnez au moins un polygone dans la couche « {name} » (le masque de la détection).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="133" />
      <source>Select at least one result to add to the map.</source>
      <translation>Sélectionnez au moins un résultat à ajouter à la carte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="175" />
      <source>Selected polygons of a layer (mask)</source>
      <translation>Polygones sélectionnés d'une couche (masque)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="166" />
      <source>Service giving the communes and their contours (geo.api.gouv.fr layout).</source>
      <translation>Service fournissant les communes et leurs contours (format geo.api.gouv.fr).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="87" />
      <source>Settings…</source>
      <translation>Paramètres…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="51" />
      <source>Share analysed (%)</source>
      <translation>Part analysée (%)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="296" />
      <source>Share of premises connectable to FttH (fibre), per quarter.</source>
      <translation>Part des locaux raccordables au FttH (fibre), par trimestre.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="77" />
      <source>Share the selected detection, change or statistics layer with the partners (STAC, PostGIS).</source>
      <translation>Partager la couche de détections, de changements ou de statistiques sélectionnée avec les partenaires (STAC, PostGIS).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="77" />
      <source>Shared PostGIS database (saved connection)</source>
      <translation>Base PostGIS partagée (connexion enregistrée)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="128" />
      <source>Shared catalog…</source>
      <translation>Catalogue partagé…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="33" />
      <source>Shared results (partners)</source>
      <translation>Résultats partagés (partenaires)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="81" />
      <source>Show or hide the IdF HR panel: catalog, imagery, offline packs</source>
      <translation>Afficher ou masquer le panneau IdF HR : catalogue, imagerie, paquets hors ligne</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="154" />
      <source>Show or hide the model card (classes, resolution, licence, metrics).</source>
      <translation>Afficher ou masquer la fiche de modèle (classes, résolution, licence, mesures de qualité).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="130" />
      <source>Show the tile name on each footprint drawn on the map.</source>
      <translation>Afficher le nom de la tuile sur chaque emprise dessinée sur la carte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="608" />
      <source>Source</source>
      <translation>Source</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="74" />
      <source>Source id</source>
      <translation>Identifiant de la source</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="607" />
      <source>Source: {url}</source>
      <translation>Source : {url}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="138" />
      <source>Start the guided session</source>
      <translation>Lancer la session guidée</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="38" />
      <source>Static STAC catalog</source>
      <translation>Catalogue STAC statique</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="39" />
      <source>Static catalog</source>
      <translation>Catalogue statique</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="122" />
      <source>Statistics per zone</source>
      <translation>Statistiques par zone</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="38" />
      <source>Statistics per zone (communes, EPT, MGP)</source>
      <translation>Statistiques par zone (communes, EPT, MGP)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="113" />
      <source>Statistics table</source>
      <translation>Tableau des statistiques</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="226" />
      <source>Step {n} of {total}: {title}</source>
      <translation>Étape {n} sur {total} : {title}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="142" />
      <source>Stream the selected results into QGIS (several tiles of one vintage open as one mosaic).</source>
      <translation>Diffuser les résultats sélectionnés dans QGIS (plusieurs tuiles d'un même millésime s'ouvrent en une seule mosaïque).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="64" />
      <source>Synthetic demo imagery generated by IdF HR (not a real photograph).</source>
      <translation>Imagerie de démonstration synthétique générée par IdF HR (pas une vraie photographie).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="149" />
      <source>Table (CSV/XLSX)</source>
      <translation>Tableau (CSV/XLSX)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="350" />
      <source>Table: {path}</source>
      <translation>Tableau : {path}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="104" />
      <source>Tables (*.csv *.xlsx *.txt);;All files (*)</source>
      <translation>Tableaux (*.csv *.xlsx *.txt);;Tous les fichiers (*)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="99" />
      <source>Task</source>
      <translation>Tâche</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="356" />
      <source>Temporal Controller on: one quarter a frame. Press its Play button (View › Panels › Temporal Controller) to animate the quarters.</source>
      <translation>Contrôleur temporel activé : un trimestre par image. Appuyez sur son bouton Lecture (Vue › Panneaux › Contrôleur temporel) pour animer les trimestres.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="536" />
      <source>The FttH file has no figures for {quarter}; its quarters are {known}.</source>
      <translation>Le fichier FttH ne contient aucune donnée pour {quarter} ; ses trimestres sont {known}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="517" />
      <source>The FttH file has no premises column and no premises file was given: pick the ARCEP communes file (Logements, Établissements) to compute coverage rates.</source>
      <translation>Le fichier FttH n'a pas de colonne de locaux et aucun fichier des locaux n'a été fourni : choisissez le fichier communes de l'ARCEP (Logements, Établissements) pour calculer les taux de couverture.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/shared_results.py" line="124" />
      <source>The GeoPackage {href} of the shared run {run} cannot be opened.</source>
      <translation>Le GeoPackage {href} de l'exécution partagée {run} ne peut pas être ouvert.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="317" />
      <source>The MGP portal cannot be reached and no dataset of the theme {theme} is in the local cache. Load the theme once online (it is then kept for offline use), or load one of the cached datasets.</source>
      <translation>Le portail de la MGP est injoignable et aucun jeu de données du thème {theme} n'est dans le cache local. Chargez le thème une fois en ligne (il est alors conservé pour le travail hors ligne), ou chargez un des jeux de données en cache.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/onnx_runtime_install.py" line="126" />
      <source>The Python interpreter of QGIS was not found, so ONNX Runtime cannot be installed from here. Install it with the OSGeo4W shell or your package manager (pip install onnxruntime), then restart QGIS.</source>
      <translation>L'interpréteur Python de QGIS est introuvable : ONNX Runtime ne peut donc pas être installé d'ici. Installez-le avec le shell OSGeo4W ou votre gestionnaire de paquets (pip install onnxruntime), puis redémarrez QGIS.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/shared_results.py" line="65" />
      <source>The authentication configuration of the connection '{name}' could not be read; unlock QGIS's authentication database (master password) or check the configuration.</source>
      <translation>La configuration d'authentification de la connexion « {name} » n'a pas pu être lue ; déverrouillez la base d'authentification de QGIS (mot de passe principal) ou vérifiez la configuration.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="37" />
      <source>The bbox '{text}' must be in WGS84 degrees: longitudes -180 to 180, latitudes -90 to 90.</source>
      <translation>La bbox '{text}' doit être en degrés WGS84 : longitudes de -180 à 180, latitudes de -90 à 90.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="387" />
      <source>The boundaries file {path} does not exist. Pick another file or clear the setting.</source>
      <translation>Le fichier de limites {path} n'existe pas. Choisissez un autre fichier ou videz le paramètre.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/guided_session.py" line="242" />
      <source>The button for this step is not in this version of the plugin: skip it with Next.</source>
      <translation>Le bouton de cette étape n'existe pas dans cette version de l'extension : passez-la avec Suivant.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="179" />
      <source>The change layer '{layer}' of '{path}' cannot be opened.</source>
      <translation>La couche de changements '{layer}' de '{path}' ne peut pas être ouverte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/qgis_reader.py" line="43" />
      <source>The coordinate reference system {crs} is unknown to QGIS.</source>
      <translation>Le système de coordonnées de référence {crs} est inconnu de QGIS.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="51" />
      <source>The extent '{text}' is empty: xmin must be below xmax and ymin below ymax.</source>
      <translation>L'emprise '{text}' est vide : xmin doit être inférieur à xmax et ymin inférieur à ymax.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="45" />
      <source>The extent '{text}' must be xmin,ymin,xmax,ymax optionally followed by :EPSG.</source>
      <translation>L'emprise '{text}' doit être de la forme xmin,ymin,xmax,ymax, éventuellement suivie de :EPSG.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="56" />
      <source>The extent CRS</source>
      <translation>Le SCR de l'emprise</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="36" />
      <source>The extent CRS '{code}' must be an EPSG code, e.g. :2154.</source>
      <translation>Le SCR de l'emprise '{code}' doit être un code EPSG, p. ex. :2154.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/offline_kit.py" line="277" />
      <source>The extent meets no commune of the MGP: check its coordinates (Lambert-93).</source>
      <translation>L'emprise ne touche aucune commune de la MGP : vérifiez ses coordonnées (Lambert-93).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/download_imagery.py" line="104" />
      <source>The extent to download is empty.</source>
      <translation>L'emprise à télécharger est vide.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="572" />
      <source>The file '{path}' does not exist; give a GeoPackage of results.</source>
      <translation>Le fichier '{path}' n'existe pas ; indiquez un GeoPackage de résultats.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="412" />
      <source>The file {path} does not exist.</source>
      <translation>Le fichier {path} n'existe pas.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="95" />
      <source>The imagery is analysed over the current map view.</source>
      <translation>L'imagerie est analysée sur la vue actuelle de la carte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/qgis_reader.py" line="67" />
      <source>The imagery layer's provider cannot be cloned for background reading.</source>
      <translation>Le fournisseur de la couche d'imagerie ne peut pas être cloné pour une lecture en arrière-plan.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/qgis_reader.py" line="176" />
      <source>The imagery's pixel type is not supported for detection.</source>
      <translation>Le type de pixel de l'imagerie n'est pas pris en charge pour la détection.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="159" />
      <source>The input is not a change layer: the zones are mapped by count.</source>
      <translation>L'entrée n'est pas une couche de changements : les zones sont cartographiées selon le nombre d'objets.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="71" />
      <source>The layer '{name}' is not stored in a GeoPackage; use a detection layer written by an IdF HR detection run (or save it as a GeoPackage first).</source>
      <translation>La couche '{name}' n'est pas stockée dans un GeoPackage ; utilisez une couche de détections écrite par une exécution de détection IdF HR (ou enregistrez-la d'abord en GeoPackage).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/detection.py" line="173" />
      <source>The layer “{name}” holds no polygon.</source>
      <translation>La couche « {name} » ne contient aucun polygone.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/sources.py" line="44" />
      <source>The layer “{name}” is a WMS layer; only WMTS, XYZ and file/COG layers can be read for downloads or detections.</source>
      <translation>La couche « {name} » est une couche WMS ; seules les couches WMTS, XYZ et fichier/COG peuvent être lues pour les téléchargements ou les détections.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/sources.py" line="49" />
      <source>The layer “{name}” uses the “{provider}” provider, which IdF HR cannot read window by window.</source>
      <translation>La couche « {name} » utilise le fournisseur « {provider} », qu'IdF HR ne sait pas lire fenêtre par fenêtre.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="458" />
      <source>The map extent is empty or covers the whole world: zoom in first.</source>
      <translation>L'emprise de la carte est vide ou couvre le monde entier : zoomez d'abord.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="680" />
      <source>The map shows no area yet: zoom to the imagery first.</source>
      <translation>La carte n'affiche encore aucune zone : zoomez d'abord sur l'imagerie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="208" />
      <source>The mask holds no polygon; select at least one polygon feature.</source>
      <translation>Le masque ne contient aucun polygone ; sélectionnez au moins une entité polygone.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="229" />
      <source>The network request failed ({error}); loaded the cached copy ({age}).</source>
      <translation>La requête réseau a échoué ({error}) ; copie en cache chargée ({age}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="173" />
      <source>The occlusion map takes a few seconds on the CPU.</source>
      <translation>La carte d'occultation prend quelques secondes sur le processeur.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="529" />
      <source>The output '{path}' must end in .csv or .xlsx.</source>
      <translation>La sortie '{path}' doit se terminer par .csv ou .xlsx.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="569" />
      <source>The output '{path}' must end in .pdf.</source>
      <translation>La sortie '{path}' doit se terminer par .pdf.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/opendata_load.py" line="149" />
      <source>The output format does not store QGIS layer metadata.</source>
      <translation>Le format de sortie ne stocke pas les métadonnées de couche QGIS.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="197" />
      <source>The portal {name} is not in the list.</source>
      <translation>Le portail {name} ne figure pas dans la liste.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/report_layout.py" line="451" />
      <source>The report could not be exported to PDF '{path}' (QGIS error {code}); check the folder is writable.</source>
      <translation>Le rapport n'a pas pu être exporté en PDF '{path}' (erreur QGIS {code}) ; vérifiez que le dossier est accessible en écriture.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/detection.py" line="287" />
      <source>The result layer {layer} of {path} cannot be opened.</source>
      <translation>La couche de résultat {layer} de {path} ne peut pas être ouverte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="108" />
      <source>The selected results have no image asset that QGIS can open.</source>
      <translation>Les résultats sélectionnés n'ont aucun asset image que QGIS puisse ouvrir.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="141" />
      <source>The selection mixes vintages ({years}); add one vintage at a time.</source>
      <translation>La sélection mélange plusieurs millésimes ({years}) ; ajoutez un millésime à la fois.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/shared_results.py" line="114" />
      <source>The shared run {run} of '{partner}' has no GeoPackage asset to load.</source>
      <translation>L'exécution partagée {run} de « {partner} » n'a pas de ressource GeoPackage à charger.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/detection.py" line="265" />
      <source>The style could not be written to {path}: {msg}</source>
      <translation>Le style n'a pas pu être écrit dans {path} : {msg}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/tasks.py" line="73" />
      <source>The task failed.</source>
      <translation>La tâche a échoué.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="222" />
      <source>The type is read from the model; force it here if the model is misread.</source>
      <translation>Le type est lu dans le modèle ; imposez-le ici si le modèle est mal interprété.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="811" />
      <source>The whole layer covers {km2} km² (≈ {mpx} Mpx at {gsd} cm): the run may take about {t}. Run it anyway?</source>
      <translation>La couche entière couvre {km2} km² (≈ {mpx} Mpx à {gsd} cm) : le calcul peut durer environ {t}. Le lancer quand même ?</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="90" />
      <source>Theme</source>
      <translation>Thématique</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/shared_results.py" line="51" />
      <source>There is no saved PostgreSQL connection named '{name}'. Create it in QGIS (Data Source Manager &gt; PostgreSQL &gt; New), then choose it here.</source>
      <translation>Aucune connexion PostgreSQL enregistrée ne s'appelle « {name} ». Créez-la dans QGIS (Gestionnaire des sources de données &gt; PostgreSQL &gt; Nouveau), puis choisissez-la ici.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/destinations.py" line="39" />
      <source>This algorithm writes a file (GeoPackage, GeoJSON…), not a {provider} table; choose a file as the output.</source>
      <translation>Cet algorithme écrit un fichier (GeoPackage, GeoJSON…), pas une table {provider} ; choisissez un fichier comme sortie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="583" />
      <source>This cache entry is gone or damaged; load the dataset again when online.</source>
      <translation>Cette entrée du cache a disparu ou est endommagée ; chargez à nouveau le jeu de données une fois en ligne.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="93" />
      <source>This catalog lists no STAC item with the MLM extension.</source>
      <translation>Ce catalogue ne répertorie aucun item STAC doté de l'extension MLM.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="298" />
      <source>This computer</source>
      <translation>Cet ordinateur</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="599" />
      <source>This extent option is not available.</source>
      <translation>Cette option d'emprise n'est pas disponible.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/dask_runtime.py" line="95" />
      <source>This imagery layer is read through QGIS (a web map service): Dask workers cannot open it themselves. Use a GeoTIFF, COG or VRT layer, or run on this computer.</source>
      <translation>Cette couche d'imagerie est lue par QGIS (un service de cartes web) : les processus de travail Dask ne peuvent pas l'ouvrir eux-mêmes. Utilisez une couche GeoTIFF, COG ou VRT, ou exécutez sur cet ordinateur.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/plugin.py" line="136" />
      <source>This is the demo project: a guided session walks through it step by step.</source>
      <translation>Ceci est le projet de démonstration : une session guidée le parcourt pas à pas.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="784" />
      <source>This model cannot be used.</source>
      <translation>Ce modèle ne peut pas être utilisé.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="277" />
      <source>Tiles {done}/{total}, about {eta} s left</source>
      <translation>Tuiles {done}/{total}, environ {eta} s restantes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="89" />
      <source>To date (YYYY-MM-DD)</source>
      <translation>Date de fin (AAAA-MM-JJ)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="111" />
      <source>Training data</source>
      <translation>Données d'entraînement</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="71" />
      <source>Two detection layers</source>
      <translation>Deux couches de détections</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="72" />
      <source>Two imagery layers + a model</source>
      <translation>Deux couches d'imagerie + un modèle</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="407" />
      <source>Type</source>
      <translation>Type</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="624" />
      <source>Type a commune or EPT name.</source>
      <translation>Saisissez le nom d'une commune ou d'un EPT.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="68" />
      <source>URL</source>
      <translation>URL</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="537" />
      <source>URL of the .onnx file:</source>
      <translation>URL du fichier .onnx :</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_result.py" line="109" />
      <source>URL where the catalog folder is served (assets)</source>
      <translation>URL où le dossier du catalogue est servi (ressources)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/tasks.py" line="56" />
      <source>Unexpected error: {error}. Details are in the IdF HR log panel.</source>
      <translation>Erreur inattendue : {error}. Les détails figurent dans le panneau de journalisation d'IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/catalog_search.py" line="36" />
      <source>Unknown catalog source “{source}”. Known sources: {known}.</source>
      <translation>Source de catalogue « {source} » inconnue. Sources connues : {known}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/analysis_layers.py" line="132" />
      <source>Unknown indicator '{ind}'; choose one of {names}.</source>
      <translation>Indicateur '{ind}' inconnu ; choisissez parmi {names}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="177" />
      <source>Unknown portal {value}: give a portal URL or one of {keys}.</source>
      <translation>Portail {value} inconnu : indiquez l'URL d'un portail ou l'une des clés {keys}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="134" />
      <source>Untick to see the whole crop the model saw.</source>
      <translation>Décochez pour voir tout l'extrait vu par le modèle.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="112" />
      <source>Vector files (*.geojson *.json *.gpkg *.shp);;All files (*)</source>
      <translation>Fichiers vecteur (*.geojson *.json *.gpkg *.shp);;Tous les fichiers (*)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/offline_kit.py" line="101" />
      <source>Vintage: {vintage}</source>
      <translation>Millésime : {vintage}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="94" />
      <source>Vintages</source>
      <translation>Millésimes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="88" />
      <source>Vintages (years; empty: the latest)</source>
      <translation>Millésimes (années ; vide : le plus récent)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/offline_kit.py" line="157" />
      <source>Vintages are years, e.g. 2024;2026.</source>
      <translation>Les millésimes sont des années, p. ex. 2024;2026.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="173" />
      <source>Visible map extent</source>
      <translation>Emprise visible de la carte</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/task_runner.py" line="114" />
      <source>Wait for the current task to finish, or cancel it.</source>
      <translation>Attendez la fin de la tâche en cours, ou annulez-la.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="124" />
      <source>Warning: {msg}</source>
      <translation>Avertissement : {msg}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="187" />
      <source>What the model saw ({n} × {n} px at the model's resolution)</source>
      <translation>Ce que le modèle a vu ({n} × {n} px à la résolution du modèle)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="95" />
      <source>When</source>
      <translation>Quand</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="81" />
      <source>Where</source>
      <translation>Où</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/opendata_load.py" line="53" />
      <source>Where clause (ODSQL)</source>
      <translation>Clause where (ODSQL)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="154" />
      <source>Where to run</source>
      <translation>Où exécuter</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="130" />
      <source>Whole MGP</source>
      <translation>Ensemble de la MGP</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="176" />
      <source>Whole imagery layer</source>
      <translation>Couche d'imagerie entière</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="665" />
      <source>Whole layer: {km2} km², ≈ {mpx} Mpx at {gsd} cm, about {t} of computing.</source>
      <translation>Couche entière : {km2} km², ≈ {mpx} Mpx à {gsd} cm, environ {t} de calcul.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="242" />
      <source>Why this detection?</source>
      <translation>Pourquoi cette détection ?</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="81" />
      <source>Words of the title or description</source>
      <translation>Mots du titre ou de la description</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="144" />
      <source>Work offline (use the cache and offline packs only)</source>
      <translation>Travailler hors ligne (utiliser uniquement le cache et les paquets hors ligne)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="308" />
      <source>Workers</source>
      <translation>Processus de travail</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="164" />
      <source>Workers of the local Dask cluster</source>
      <translation>Processus de travail de la grappe Dask locale</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="277" />
      <source>Write a PDF report of this result (print layout, editable).</source>
      <translation>Écrire un rapport PDF de ce résultat (mise en page modifiable).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="132" />
      <source>Write this model as a STAC MLM item into a catalog folder.</source>
      <translation>Écrire ce modèle sous forme d'item STAC MLM dans un dossier de catalogue.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/report.py" line="44" />
      <source>Writes an A4 landscape report (PDF, French or English) of a detection, change or zone-statistics layer stored in a GeoPackage: map of the extent with legend, scale bar and north arrow, counts per class and status (table and chart), statistics per zone when zones are given, what each run cost (duration, CPU, km², energy estimate and its method), the model card (sha256, classes, known limits, measured accuracy), the parameters, and the sources with their licences. Optionally an HTML version of the same content. The PDF is written to a temporary file and renamed when complete.</source>
      <translation>Produit un rapport A4 paysage (PDF, en français ou en anglais) d'une couche de détections, de changements ou de statistiques par zone stockée dans un GeoPackage : carte de l'emprise avec légende, barre d'échelle et flèche du nord, décomptes par classe et par statut (tableau et graphique), statistiques par zone lorsque des zones sont fournies, coût de chaque exécution (durée, CPU, km², estimation de l'énergie et sa méthode), fiche de modèle (sha256, classes, limites connues, précision mesurée), paramètres, et sources avec leurs licences. En option, une version HTML du même contenu. Le PDF est écrit dans un fichier temporaire puis renommé une fois terminé.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/publish_model.py" line="25" />
      <source>Writes an ONNX model, its model card and a STAC item using the Machine Learning Model (MLM) extension (name, architecture, tasks, input with bands/shape/scaling, output classes, sha256 checksum, licence, GSD) into a static STAC catalog folder, for example on a shared network drive. Partners add that folder (or its URL) as a model catalog in the model manager. Publishing the same model again updates its item.</source>
      <translation>Écrit un modèle ONNX, sa fiche de modèle et un item STAC utilisant l'extension Machine Learning Model (MLM) (nom, architecture, tâches, entrée avec bandes/forme/mise à l'échelle, classes de sortie, somme de contrôle sha256, licence, GSD) dans un dossier de catalogue STAC statique, par exemple sur un lecteur réseau partagé. Les partenaires ajoutent ce dossier (ou son URL) comme catalogue de modèles dans le gestionnaire de modèles. Publier à nouveau le même modèle met à jour son item.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="706" />
      <source>Written: {files}</source>
      <translation>Écrit : {files}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="139" />
      <source>Yellow: the object as the run wrote it. Cyan: the box the model draws on this crop now.</source>
      <translation>Jaune : l'objet tel que l'exécution l'a écrit. Cyan : la boîte que le modèle trace maintenant sur cet extrait.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="341" />
      <source>Zone statistics</source>
      <translation>Statistiques par zone</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="133" />
      <source>Zones</source>
      <translation>Zones</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/report.py" line="73" />
      <source>Zones (e.g. communes)</source>
      <translation>Zones (p. ex. communes)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/report_dialog.py" line="49" />
      <source>Zones (optional, e.g. communes)</source>
      <translation>Zones (facultatif, p. ex. communes)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="140" />
      <source>Zones layer</source>
      <translation>Couche de zones</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="68" />
      <source>Zones layer below</source>
      <translation>Couche de zones ci-dessous</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/zonal_statistics.py" line="117" />
      <source>Zones with statistics</source>
      <translation>Zones avec statistiques</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_widgets.py" line="70" />
      <source>Zoom</source>
      <translation>Zoomer</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="133" />
      <source>Zoom on the object</source>
      <translation>Zoomer sur l'objet</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="141" />
      <source>Zoom to a commune or EPT</source>
      <translation>Zoomer sur une commune ou un EPT</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="642" />
      <source>Zoomed to {name}.</source>
      <translation>Zoom sur {name} effectué.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="108" />
      <source>and</source>
      <translation>et le</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="115" />
      <source>any</source>
      <translation>indifférente</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="55" />
      <source>any, e.g. pool</source>
      <translation>toutes, p. ex. pool</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="213" />
      <source>automatic</source>
      <translation>automatique</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="379" />
      <source>boundaries file</source>
      <translation>fichier de limites</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="52" />
      <source>businesses (Établissements)</source>
      <translation>établissements (Établissements)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="106" />
      <source>capacity &gt; 40   (e.g. arrondissement = "PARIS 11E")</source>
      <translation>capacity &gt; 40   (p. ex. arrondissement = "PARIS 11E")</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="37" />
      <source>catalog.json URL, catalog folder, or STAC API URL</source>
      <translation>URL du catalog.json, dossier du catalogue ou URL d'une API STAC</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="234" />
      <source>change layer</source>
      <translation>la couche de changements</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="37" />
      <source>classification</source>
      <translation>classification</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="109" />
      <source>communes_*.csv: Logements, Établissements</source>
      <translation>communes_*.csv : Logements, Établissements</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="48" />
      <source>connectable premises</source>
      <translation>locaux raccordables</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="33" />
      <source>detection</source>
      <translation>détection</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="108" />
      <source>ftthCommunes_*.csv: connectable premises per quarter</source>
      <translation>ftthCommunes_*.csv : locaux raccordables par trimestre</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="51" />
      <source>housing (Logements)</source>
      <translation>logements (Logements)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="153" />
      <source>imagery file</source>
      <translation>fichier d'imagerie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="217" />
      <source>instance segmentation</source>
      <translation>segmentation d'instances</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="157" />
      <source>jobs {done}/{total}, ETA {eta:.0f} s</source>
      <translation>lots {done}/{total}, fin estimée dans {eta:.0f} s</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="349" />
      <source>licence not stated</source>
      <translation>licence non précisée</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="157" />
      <source>local Dask cluster (N worker processes)</source>
      <translation>grappe Dask locale (N processus de travail)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="54" />
      <source>mean IoU</source>
      <translation>IoU moyen</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="55" />
      <source>mean over the classes</source>
      <translation>moyenne des classes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="146" />
      <source>model file</source>
      <translation>fichier de modèle</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="101" />
      <source>native resolution</source>
      <translation>résolution native</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="186" />
      <source>no</source>
      <translation>non</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/offline_kit.py" line="179" />
      <source>none</source>
      <translation>aucun</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="63" />
      <source>not measured</source>
      <translation>non mesurée</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="258" />
      <source>not stated</source>
      <translation>non précisée</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="215" />
      <source>object detection (boxes)</source>
      <translation>détection d'objets (boîtes)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="380" />
      <source>open data file</source>
      <translation>fichier de données ouvertes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="216" />
      <source>oriented boxes</source>
      <translation>boîtes orientées</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/onnx_runtime_install.py" line="222" />
      <source>pip could not install {pkgs} (exit code {rc}). Check the network or proxy settings, or install them by hand. pip said:
{tail}</source>
      <translation>pip n'a pas pu installer {pkgs} (code de sortie {rc}). Vérifiez les paramètres réseau ou de proxy, ou installez-les manuellement. Réponse de pip :
{tail}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="50" />
      <source>precision</source>
      <translation>précision</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="380" />
      <source>premises file</source>
      <translation>fichier des locaux</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="49" />
      <source>quarter (or quarter columns like "T1 2018")</source>
      <translation>trimestre (ou colonnes de trimestres comme « T1 2018 »)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="51" />
      <source>recall</source>
      <translation>rappel</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="264" />
      <source>report</source>
      <translation>rapport</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="209" />
      <source>score</source>
      <translation>score</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="34" />
      <source>segmentation</source>
      <translation>segmentation sémantique</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="218" />
      <source>semantic segmentation (classes per pixel)</source>
      <translation>segmentation sémantique (classe par pixel)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="115" />
      <source>sha256</source>
      <translation>sha256</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="311" />
      <source>statistics table</source>
      <translation>le tableau des statistiques</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="223" />
      <source>the model does not find this object on this crop</source>
      <translation>le modèle ne trouve pas cet objet sur cet extrait</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/detect.py" line="156" />
      <source>this computer</source>
      <translation>cet ordinateur</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="221" />
      <source>this crop</source>
      <translation>cet extrait</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="248" />
      <source>tile {id}</source>
      <translation>dalle {id}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="244" />
      <source>tile {id} (column {col} px, row {row} px of the run's grid)</source>
      <translation>dalle {id} (colonne {col} px, ligne {row} px de la grille de l'exécution)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/cli.py" line="159" />
      <source>tiles {done}/{total}, ETA {eta:.0f} s</source>
      <translation>tuiles {done}/{total}, fin estimée dans {eta:.0f} s</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="301" />
      <source>undated</source>
      <translation>non daté</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="149" />
      <source>unknown error</source>
      <translation>erreur inconnue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/options.py" line="186" />
      <source>yes</source>
      <translation>oui</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/explain_tool.py" line="234" />
      <source>{change} (confidence {conf})</source>
      <translation>{change} (confiance {conf})</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="850" />
      <source>{done}/{total} jobs, ETA {eta}</source>
      <translation>{done}/{total} lots, fin estimée {eta}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="856" />
      <source>{done}/{total} tiles, ETA {eta}</source>
      <translation>{done}/{total} tuiles, fin estimée dans {eta}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="150" />
      <source>{file}: {column}</source>
      <translation>{file} : {column}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="987" />
      <source>{h} h</source>
      <translation>{h} h</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="530" />
      <source>{label} is not a quarter like "T1 2018".</source>
      <translation>{label} n'est pas un trimestre de la forme "T1 2018".</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="986" />
      <source>{m} min</source>
      <translation>{m} min</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="51" />
      <source>{name} '{text}' is not a date like 2024-06-30.</source>
      <translation>{name} '{text}' n'est pas une date de la forme 2024-06-30.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="64" />
      <source>{name} '{text}' must be a file in an existing folder.</source>
      <translation>{name} '{text}' doit être un fichier dans un dossier existant.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="277" />
      <source>{name} cannot be reached ({error}): searching needs the network.</source>
      <translation>{name} est injoignable ({error}) : la recherche a besoin du réseau.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="76" />
      <source>{name}: {values}</source>
      <translation>{name} : {values}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="307" />
      <source>{n} cached datasets match: they are listed under “Cached datasets (offline)”, load one from there, or search again once the network is back.</source>
      <translation>{n} jeux de données en cache correspondent : ils sont listés sous « Jeux de données en cache (hors ligne) » ; chargez-en un depuis cette liste, ou relancez la recherche quand le réseau sera revenu.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/fibre_tab.py" line="323" />
      <source>{n} communes mapped.</source>
      <translation>{n} communes cartographiées.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="337" />
      <source>{n} datasets. Select one to see its fields, licence and size.</source>
      <translation>{n} jeux de données. Sélectionnez-en un pour voir ses champs, sa licence et sa taille.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/processing/opendata_load.py" line="122" />
      <source>{n} features of {title} ({licence}).</source>
      <translation>{n} entités de {title} ({licence}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_catalog_dialog.py" line="91" />
      <source>{n} model(s) in this catalog.</source>
      <translation>{n} modèle(s) dans ce catalogue.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="954" />
      <source>{n} object(s) found on {km2} km².</source>
      <translation>{n} objet(s) trouvé(s) sur {km2} km².</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="915" />
      <source>{n} object(s) on {km2} km² in {s} s (~{wh} Wh).</source>
      <translation>{n} objet(s) sur {km2} km² en {s} s (~{wh} Wh).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/analysis_tab.py" line="289" />
      <source>{n} objects compared: {detail}.</source>
      <translation>{n} objets comparés : {detail}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="497" />
      <source>{n} objects compared: {detail}; layer '{layer}' written to {path}.</source>
      <translation>{n} objets comparés : {detail} ; couche '{layer}' écrite dans {path}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="348" />
      <source>{n} records · {licence} · updated {date}</source>
      <translation>{n} enregistrements · {licence} · mis à jour le {date}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="352" />
      <source>{n} resources · {licence} · updated {date}</source>
      <translation>{n} ressources · {licence} · mis à jour le {date}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/commands.py" line="119" />
      <source>{n} results.</source>
      <translation>{n} résultats.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/catalog_tab.py" line="309" />
      <source>{n} results. Select some, then Add to map.</source>
      <translation>{n} résultats. Sélectionnez-en, puis cliquez sur Ajouter à la carte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/shared_results_box.py" line="201" />
      <source>{n} shared run(s). Select some, then Add to map.</source>
      <translation>{n} exécution(s) partagée(s). Sélectionnez-en, puis Ajouter à la carte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/layers.py" line="53" />
      <source>{n} tiles</source>
      <translation>{n} tuiles</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="26" />
      <source>{providers}, 1 thread</source>
      <translation>{providers}, 1 fil d'exécution</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="27" />
      <source>{providers}, {n} threads</source>
      <translation>{providers}, {n} fils d'exécution</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="137" />
      <source>{size} MB</source>
      <translation>{size} Mo</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/offline_kit.py" line="176" />
      <source>{source} has no imagery of {missing} over this zone; available vintages: {known}.</source>
      <translation>{source} n'a pas d'imagerie de {missing} sur cette zone ; millésimes disponibles : {known}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/offline_kit.py" line="189" />
      <source>{source} has no {gsd} m imagery of {year} over this zone.</source>
      <translation>{source} n'a pas d'imagerie à {gsd} m de {year} sur cette zone.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="984" />
      <source>{s} s</source>
      <translation>{s} s</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="591" />
      <source>{title} loaded from the cache ({age}).</source>
      <translation>{title} chargé depuis le cache ({age}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="567" />
      <source>{title} — {age} ({n} features)</source>
      <translation>{title} — {age} ({n} entités)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/opendata_tab.py" line="501" />
      <source>{title}: {n} features added.</source>
      <translation>{title} : {n} entités ajoutées.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/opendata_layers.py" line="123" />
      <source>{url} is not a portal address: give it like https://opendata.paris.fr.</source>
      <translation>{url} n'est pas l'adresse d'un portail : indiquez-la sous la forme https://opendata.paris.fr.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/model_card_view.py" line="105" />
      <source>{w}×{h} px, {c} channels</source>
      <translation>{w}×{h} px, {c} canaux</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gis/detection.py" line="205" />
      <source>“{name}” has no contour in the cached boundaries.</source>
      <translation>« {name} » n'a pas de contour dans les limites en cache.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/gui/detection_tab.py" line="958" />
      <source>• {label}: {n} ({area} m²)</source>
      <translation>• {label} : {n} ({area} m²)</translation>
    </message>
  </context>
  <context>
    <name>core</name>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="612" />
      <source>  worker {addr}: {jobs} job(s), {tiles} tiles, {km2} km², {cpu} s CPU, {wall} s wall, {prov}</source>
      <translation>  processus {addr} : {jobs} lot(s), {tiles} dalles, {km2} km², {cpu} s CPU, {wall} s écoulées, {prov}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/report.py" line="118" />
      <source>  {label}: {n} ({area} m²)</source>
      <translation>  {label} : {n} ({area} m²)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="171" />
      <source> and in PostGIS</source>
      <translation> et dans PostGIS</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="384" />
      <source> for this filter</source>
      <translation> pour ce filtre</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="198" />
      <source>'{crs}' is not a coordinate reference system I know.</source>
      <translation>'{crs}' n'est pas un système de coordonnées de référence connu.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/proxy.py" line="209" />
      <source>'{id}' is not a QGIS authentication configuration id.</source>
      <translation>'{id}' n'est pas un identifiant de configuration d'authentification QGIS.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/stac_api.py" line="75" />
      <source>'{id}' is not a usable collection id; give a short name such as idfhr-results.</source>
      <translation>« {id} » n'est pas un identifiant de collection utilisable ; donnez un nom court comme idfhr-results.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="230" />
      <source>'{path}' cannot be opened ({err}).</source>
      <translation>'{path}' ne peut pas être ouvert ({err}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="176" />
      <source>'{path}' cannot be opened as a GeoPackage ({err}); choose a detection GeoPackage.</source>
      <translation>« {path} » ne peut pas être ouvert comme GeoPackage ({err}) ; choisissez un GeoPackage de détections.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/io.py" line="180" />
      <source>'{path}' cannot be opened as a vector file ({err}); choose a GeoPackage of detections.</source>
      <translation>'{path}' ne peut pas être ouvert en tant que fichier vecteur ({err}) ; choisissez un GeoPackage de détections.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="205" />
      <source>'{path}' cannot be opened as a vector file ({err}); choose a GeoPackage written by IdF HR.</source>
      <translation>'{path}' ne peut pas être ouvert en tant que fichier vecteur ({err}) ; choisissez un GeoPackage écrit par IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="178" />
      <source>'{path}' cannot be opened as a vector file ({err}); choose a polygon layer.</source>
      <translation>'{path}' ne peut pas être ouvert en tant que fichier vecteur ({err}) ; choisissez une couche de polygones.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/io.py" line="181" />
      <source>'{path}' holds several layers ({names}); choose the detection layer to use.</source>
      <translation>'{path}' contient plusieurs couches ({names}) ; choisissez la couche de détections à utiliser.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/source.py" line="113" />
      <source>'{path}' holds several layers ({names}); choose the layer to publish.</source>
      <translation>« {path} » contient plusieurs couches ({names}) ; choisissez la couche à publier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="206" />
      <source>'{path}' holds several layers ({names}); choose the layer to report on.</source>
      <translation>'{path}' contient plusieurs couches ({names}) ; choisissez la couche sur laquelle porte le rapport.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="177" />
      <source>'{path}' holds several layers ({names}); choose the layer with --layer.</source>
      <translation>« {path} » contient plusieurs couches ({names}) ; choisissez la couche avec --layer.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="209" />
      <source>'{path}' is not a readable ONNX model ({err}). Choose a .onnx file exported by Ultralytics, Deepness or another ONNX exporter.</source>
      <translation>'{path}' n'est pas un modèle ONNX lisible ({err}). Choisissez un fichier .onnx exporté par Ultralytics, Deepness ou un autre exportateur ONNX.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_item.py" line="285" />
      <source>'{text}' is not a valid date: use the form YYYY-MM-DD (for example 2024-06-30).</source>
      <translation>'{text}' n'est pas une date valide : utilisez la forme AAAA-MM-JJ (par exemple 2024-06-30).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="277" />
      <source>'{url}' is not an http(s) URL.</source>
      <translation>'{url}' n'est pas une URL http(s).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/stac_api.py" line="36" />
      <source>'{url}' is not the address of a STAC API; give its http(s):// URL.</source>
      <translation>« {url} » n'est pas l'adresse d'une API STAC ; donnez son URL http(s)://.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="529" />
      <source>({n} attempts in {s} s.)</source>
      <translation>({n} tentatives en {s} s.)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="544" />
      <source>A GeoPackage raster holds 8-bit imagery or a single band; choose the COG format instead.</source>
      <translation>Un raster GeoPackage ne contient que de l'imagerie 8 bits ou une seule bande ; choisissez plutôt le format COG.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="303" />
      <source>A detection reaches {d} px past its tile, more than the {m} px the distributed merge relies on to give the same result as one computer; nothing was written. Run this extent on this computer.</source>
      <translation>Une détection dépasse sa dalle de {d} px, plus que les {m} px sur lesquels compte la fusion distribuée pour donner le même résultat qu'un seul ordinateur ; rien n'a été écrit. Exécutez cette emprise sur cet ordinateur.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="456" />
      <source>A model catalog is a static STAC catalog or a STAC API, not '{kind}'.</source>
      <translation>Un catalogue de modèles est un catalogue STAC statique ou une API STAC, pas '{kind}'.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/decoders.py" line="407" />
      <source>A segmentation output has shape {shape}; expected (B, C, H, W) or (B, H, W).</source>
      <translation>Une sortie de segmentation a la forme {shape} ; (B, C, H, W) ou (B, H, W) attendu.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="258" />
      <source>Access was refused: check the authentication configuration (authcfg) of this source.</source>
      <translation>Accès refusé : vérifiez la configuration d'authentification (authcfg) de cette source.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="312" />
      <source>All {n} tile(s) of the extent hold no data (NoData everywhere); nothing was detected and nothing written. Pick an extent over the imagery.</source>
      <translation>Les {n} tuile(s) de l'emprise ne contiennent aucune donnée (NoData partout) ; rien n'a été détecté ni écrit. Choisissez une emprise couvrant l'imagerie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="254" />
      <source>An item of {url} is malformed and was skipped ({error}).</source>
      <translation>Un item de {url} est mal formé et a été ignoré ({error}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/stac_folder.py" line="81" />
      <source>Another publisher has been updating {folder} for too long; try again later. If nobody is publishing there, delete {lock}.</source>
      <translation>Quelqu'un d'autre met à jour {folder} depuis trop longtemps ; réessayez plus tard. Si personne n'y publie, supprimez {lock}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/geometry.py" line="350" />
      <source>Areas need a projected coordinate system in metres, but the layer is in '{crs}'. Reproject it to Lambert-93 (EPSG:2154) and try again.</source>
      <translation>Le calcul des surfaces nécessite un système de coordonnées projeté en mètres, mais la couche est en '{crs}'. Reprojetez-la en Lambert-93 (EPSG:2154) et réessayez.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="122" />
      <source>B</source>
      <translation>o</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="54" />
      <source>Band mapping '{map}' is neither RGB, RGBA, BGR, IRC nor a list like 1,2,3.</source>
      <translation>L'affectation des bandes '{map}' n'est ni RGB, RGBA, BGR, IRC, ni une liste du type 1,2,3.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="82" />
      <source>Band(s) {bad} do not exist: the raster has {bc} band(s).</source>
      <translation>La ou les bandes {bad} n'existent pas : le raster compte {bc} bande(s).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="414" />
      <source>Bundled models cannot be removed.</source>
      <translation>Les modèles fournis ne peuvent pas être supprimés.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/report.py" line="30" />
      <source>CPU time of the run ({cpu} s, all threads) x {w} W per busy core (an assumption; set IDF_HR_WATTS_PER_CORE to your CPU's TDP per core) / 3600. Excludes GPU, screen, memory and idle power.</source>
      <translation>Temps CPU de l'exécution ({cpu} s, tous fils d'exécution confondus) x {w} W par cœur actif (hypothèse ; définissez IDF_HR_WATTS_PER_CORE au TDP par cœur de votre processeur) / 3600. Hors GPU, écran, mémoire et consommation au repos.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="442" />
      <source>CPU time summed over the client and every worker's jobs.</source>
      <translation>Temps CPU additionné sur le client et les lots de chaque processus de travail.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="490" />
      <source>Cannot create the job folder '{path}' ({err}).</source>
      <translation>Impossible de créer le dossier des lots « {path} » ({err}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="76" />
      <source>Cannot reach the Dask scheduler at {addr} ({err}); check the address and that dask-scheduler is running there.</source>
      <translation>Impossible de joindre l'ordonnanceur Dask à {addr} ({err}) ; vérifiez l'adresse et que dask-scheduler y tourne.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="388" />
      <source>Cannot read the imagery {source} to estimate the kit: {error}</source>
      <translation>Impossible de lire l'imagerie {source} pour estimer la taille du kit : {error}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/runner.py" line="762" />
      <source>Cannot write a temporary file next to '{path}' ({err}); free some disk space or choose another output folder.</source>
      <translation>Impossible d'écrire un fichier temporaire à côté de « {path} » ({err}) ; libérez de l'espace disque ou choisissez un autre dossier de sortie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/writer.py" line="91" />
      <source>Cannot write in the output folder '{path}' ({err}); choose a folder you can write to.</source>
      <translation>Impossible d'écrire dans le dossier de sortie '{path}' ({err}) ; choisissez un dossier dans lequel vous pouvez écrire.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="153" />
      <source>Cannot write in {path}: choose a folder you can write to.</source>
      <translation>Impossible d'écrire dans {path} : choisissez un dossier dans lequel vous pouvez écrire.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="622" />
      <source>Cannot write the offline pack in {folder} ({error}). Choose a folder you can write to.</source>
      <translation>Impossible d'écrire le paquet hors ligne dans {folder} ({error}). Choisissez un dossier dans lequel vous pouvez écrire.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="199" />
      <source>Catalog search cancelled.</source>
      <translation>Recherche dans le catalogue annulée.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="265" />
      <source>Check the address and parameters of this source.</source>
      <translation>Vérifiez l'adresse et les paramètres de cette source.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="419" />
      <source>Communes (MGP boundaries)</source>
      <translation>Communes (limites de la MGP)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/estimate.py" line="60" />
      <source>Cost per tile: {s} s wall, {c} s CPU ({src}).</source>
      <translation>Coût par dalle : {s} s écoulées, {c} s CPU ({src}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/report.py" line="123" />
      <source>Cost: {dur} s wall, {cpu} s CPU, ~{wh} Wh (estimate), {rate} km²/min, on {prov} with {th} thread(s).</source>
      <translation>Coût : {dur} s écoulées, {cpu} s CPU, ~{wh} Wh (estimation), {rate} km²/min, sur {prov} avec {th} fil(s) d'exécution.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="466" />
      <source>Could not connect to {host} within {timeout} s (no reply to the connection attempt). Check the address, your network connection or proxy.</source>
      <translation>Connexion à {host} impossible en {timeout} s (aucune réponse à la tentative de connexion). Vérifiez l'adresse, votre connexion réseau ou votre proxy.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="507" />
      <source>Could not connect to {host}. Check the address, your network connection or proxy.</source>
      <translation>Connexion à {host} impossible. Vérifiez l'adresse, votre connexion réseau ou votre proxy.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="493" />
      <source>Could not connect to {host}: the connection was refused (no service listens at that address and port). Check the address and that the service is running.</source>
      <translation>Connexion à {host} impossible : la connexion a été refusée (aucun service n'écoute à cette adresse et sur ce port). Vérifiez l'adresse et que le service est bien démarré.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="498" />
      <source>Could not connect to {host}: the host name is unknown. Check the address, your network connection or proxy.</source>
      <translation>Connexion à {host} impossible : le nom d'hôte est inconnu. Vérifiez l'adresse, votre connexion réseau ou votre proxy.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="216" />
      <source>Could not open the imagery source {source} ({error}). Check your network connection and the source address.</source>
      <translation>Impossible d'ouvrir la source d'imagerie {source} ({error}). Vérifiez votre connexion réseau et l'adresse de la source.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="222" />
      <source>Could not open the imagery {source} ({error}). Check that the file exists and is a raster.</source>
      <translation>Impossible d'ouvrir l'imagerie {source} ({error}). Vérifiez que le fichier existe et qu'il s'agit d'un raster.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="609" />
      <source>Dask dashboard: {url}</source>
      <translation>Tableau de bord Dask : {url}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="72" />
      <source>Detect objects</source>
      <translation>Détecter des objets</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="132" />
      <source>Detection on {v}</source>
      <translation>Détection du millésime {v}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/stac.py" line="222" />
      <source>Detections, changes and zone statistics published by the partners, with their provenance.</source>
      <translation>Détections, changements et statistiques par zone publiés par les partenaires, avec leur provenance.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="591" />
      <source>Download cancelled while writing {path}: nothing was written there. Run it again to finish; the downloaded pixels are kept.</source>
      <translation>Téléchargement annulé pendant l'écriture de {path} : rien n'y a été écrit. Relancez-le pour terminer ; les pixels déjà téléchargés sont conservés.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="416" />
      <source>Download cancelled: nothing was written to {path}. Run it again with the same settings to resume ({done} of {total} blocks are kept in {partial}).</source>
      <translation>Téléchargement annulé : rien n'a été écrit dans {path}. Relancez-le avec les mêmes paramètres pour le reprendre ({done} blocs sur {total} sont conservés dans {partial}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="408" />
      <source>Download cancelled; run it again to resume where it stopped.</source>
      <translation>Téléchargement annulé ; relancez-le pour le reprendre là où il s'est arrêté.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="440" />
      <source>Downloaded {n} of {total} blocks</source>
      <translation>{n} blocs téléchargés sur {total}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="106" />
      <source>Estimated size of the kit: {size}.</source>
      <translation>Taille estimée du kit : {size}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="254" />
      <source>Every connectable-premises value of {file} is between 0 and 100 for {n} communes: they look like percentages or coverage bands, not counts of premises. Check the row selector (Champ) and that the file is the deployment file (Locaux Raccordables).</source>
      <translation>Toutes les valeurs de locaux raccordables de {file} sont comprises entre 0 et 100 pour {n} communes : elles ressemblent à des pourcentages ou à des tranches de couverture, pas à des nombres de locaux. Vérifiez le sélecteur de lignes (Champ) et qu'il s'agit bien du fichier de déploiement (Locaux Raccordables).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/zonal.py" line="61" />
      <source>Excel export needs the openpyxl package, which is not installed; install python3-openpyxl or export to CSV instead.</source>
      <translation>L'export Excel nécessite le paquet openpyxl, qui n'est pas installé ; installez python3-openpyxl ou exportez plutôt en CSV.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="795" />
      <source>Execution provider(s) {missing} are not available here; available: {avail}.</source>
      <translation>Le ou les fournisseurs d'exécution {missing} ne sont pas disponibles ici ; disponibles : {avail}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/estimate.py" line="74" />
      <source>Expected output: ~{n} features, GeoPackage ~{g}, GeoParquet job files ~{p}.</source>
      <translation>Sortie attendue : ~{n} entités, GeoPackage ~{g}, fichiers GeoParquet des lots ~{p}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="83" />
      <source>Explain a detection</source>
      <translation>Expliquer une détection</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="95" />
      <source>Find what changed</source>
      <translation>Trouver ce qui a changé</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="466" />
      <source>FttH coverage by commune (ARCEP)</source>
      <translation>Couverture FttH par commune (ARCEP)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="122" />
      <source>GB</source>
      <translation>Go</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="170" />
      <source>GDAL could not build the mosaic: {error}</source>
      <translation>GDAL n'a pas pu construire la mosaïque : {error}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/gpkgio.py" line="154" />
      <source>GDAL could not convert {src} to a GeoPackage.</source>
      <translation>GDAL n'a pas pu convertir {src} en GeoPackage.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/runner.py" line="951" />
      <source>GPU energy is not included.</source>
      <translation>L'énergie consommée par le GPU n'est pas incluse.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="99" />
      <source>Give one vintage per imagery layer.</source>
      <translation>Indiquez un millésime par couche d'imagerie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="270" />
      <source>Give the model's sha256 (64 hexadecimal characters) with its URL: the plugin verifies every downloaded model before using it.</source>
      <translation>Indiquez le sha256 du modèle (64 caractères hexadécimaux) avec son URL : l'extension vérifie chaque modèle téléchargé avant de l'utiliser.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="344" />
      <source>HTTP 400, no details</source>
      <translation>HTTP 400, sans détails</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="269" />
      <source>INSEE code</source>
      <translation>code INSEE</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="383" />
      <source>Imagery at {src} m/px is resampled to the model's {gsd} m/px.</source>
      <translation>L'imagerie à {src} m/px est rééchantillonnée à la résolution du modèle, {gsd} m/px.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="358" />
      <source>It said: “{text}”.</source>
      <translation>Il a indiqué : « {text} ».</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="528" />
      <source>JPEG compression needs 8-bit grey or RGB imagery; use DEFLATE for this source.</source>
      <translation>La compression JPEG nécessite une imagerie 8 bits en niveaux de gris ou RGB ; utilisez DEFLATE pour cette source.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="591" />
      <source>Job {n} failed on the cluster: {err}</source>
      <translation>Le lot {n} a échoué sur la grappe : {err}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="593" />
      <source>Job {n} was cancelled on the cluster.</source>
      <translation>Le lot {n} a été annulé sur la grappe.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="585" />
      <source>Job {n} was lost with every worker that ran it ({err}); the workers may be running out of memory. Check the workers, then run again with --resume.</source>
      <translation>Le lot {n} a été perdu avec chaque processus de travail qui l'exécutait ({err}) ; ils manquent peut-être de mémoire. Vérifiez les processus de travail, puis relancez avec --resume.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="122" />
      <source>MB</source>
      <translation>Mo</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="106" />
      <source>Map the fibre coverage</source>
      <translation>Cartographier la couverture fibre</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/stac.py" line="163" />
      <source>Model (STAC MLM item)</source>
      <translation>Modèle (item STAC MLM)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/write.py" line="182" />
      <source>Model card (IdF HR sidecar JSON)</source>
      <translation>Fiche de modèle (JSON annexe IdF HR)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/boundaries.py" line="332" />
      <source>Network unreachable: the bundled IGN ADMIN EXPRESS boundaries (Licence Ouverte, {vintage}) were used.</source>
      <translation>Réseau injoignable : les limites IGN ADMIN EXPRESS fournies avec l'extension (Licence Ouverte, millésime {vintage}) ont été utilisées.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/boundaries.py" line="243" />
      <source>No EPT matches "{name}". Known EPT: {known}.</source>
      <translation>Aucun EPT ne correspond à "{name}". EPT connus : {known}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="392" />
      <source>No FttH figures for {n} communes: {codes}.</source>
      <translation>Aucune donnée FttH pour {n} communes : {codes}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/boundaries.py" line="229" />
      <source>No MGP commune matches "{name}". Check the spelling or use the INSEE code.</source>
      <translation>Aucune commune de la MGP ne correspond à "{name}". Vérifiez l'orthographe ou utilisez le code INSEE.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="641" />
      <source>No building of {file} has usable coordinates.</source>
      <translation>Aucun immeuble de {file} n'a de coordonnées exploitables.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="309" />
      <source>No commune or EPT of the Métropole du Grand Paris matches "{name}": check the spelling, use the INSEE code or the EPT id (T1 to T12), or give an extent instead.</source>
      <translation>Aucune commune ni aucun EPT de la Métropole du Grand Paris ne correspond à "{name}" : vérifiez l'orthographe, utilisez le code INSEE ou l'identifiant de l'EPT (T1 à T12), ou indiquez plutôt une emprise.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="568" />
      <source>No coverage value could be joined to the boundaries: check that the FttH file covers the MGP.</source>
      <translation>Aucune valeur de couverture n'a pu être jointe aux limites : vérifiez que le fichier FttH couvre la MGP.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/themes.py" line="167" />
      <source>No dataset of the theme {theme} was found on {portal} (looked for {ids}). Set the dataset ids of this theme in the IdF HR settings.</source>
      <translation>Aucun jeu de données de la thématique {theme} n'a été trouvé sur {portal} (identifiants recherchés : {ids}). Indiquez les identifiants des jeux de données de cette thématique dans les paramètres d'IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/tabular.py" line="116" />
      <source>No header row was found in the first {n} lines of {file}. Check that it is the expected table (CSV separated by ',' or ';').</source>
      <translation>Aucune ligne d'en-tête n'a été trouvée dans les {n} premières lignes de {file}. Vérifiez qu'il s'agit bien du tableau attendu (CSV séparé par ',' ou ';').</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="129" />
      <source>No item was given to build a mosaic: select at least one image.</source>
      <translation>Aucun item n'a été fourni pour construire une mosaïque : sélectionnez au moins une image.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="199" />
      <source>No model named '{name}' in the bundled models or in {folder}.</source>
      <translation>Aucun modèle nommé '{name}' parmi les modèles fournis ni dans {folder}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="398" />
      <source>No premises count for {n} communes: {codes}.</source>
      <translation>Aucun nombre de locaux pour {n} communes : {codes}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="291" />
      <source>No row of {file} has usable coordinates in the columns {x} and {y}.</source>
      <translation>Aucune ligne de {file} n'a de coordonnées exploitables dans les colonnes {x} et {y}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="164" />
      <source>Not enough free disk space in {folder}: the kit needs about {need} and only {free} are free. Free some space, pick fewer vintages or a smaller zone, or choose another disk.</source>
      <translation>Espace disque libre insuffisant dans {folder} : le kit nécessite environ {need} et seuls {free} sont libres. Libérez de l'espace, choisissez moins de millésimes ou une zone plus petite, ou un autre disque.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/browse.py" line="201" />
      <source>Not published by IdF HR: the item {id} has no idfhr: run properties ({what} unknown); check its provenance with whoever published it before relying on it.</source>
      <translation>Non publié par IdF HR : l'item {id} n'a pas de propriétés d'exécution idfhr: ({what} inconnus) ; vérifiez sa provenance auprès de qui l'a publié avant de vous y fier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="475" />
      <source>Nothing to resume: the job folder '{path}' does not hold a run. Run without --resume.</source>
      <translation>Rien à reprendre : le dossier des lots « {path} » ne contient pas d'exécution. Lancez sans --resume.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="812" />
      <source>ONNX Runtime cannot load the model '{path}': {err}</source>
      <translation>ONNX Runtime ne peut pas charger le modèle '{path}' : {err}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="329" />
      <source>ONNX Runtime failed on this model and imagery: {err}</source>
      <translation>ONNX Runtime a échoué sur ce modèle et cette imagerie : {err}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="196" />
      <source>ONNX Runtime is not installed, so the model cannot be read or run. Install it from the Detection tab (Install ONNX Runtime) or with pip install onnxruntime.</source>
      <translation>ONNX Runtime n'est pas installé : le modèle ne peut donc être ni lu ni exécuté. Installez-le depuis l'onglet Détection (Installer ONNX Runtime) ou avec pip install onnxruntime.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="779" />
      <source>ONNX Runtime is not installed; install it from the plugin's model manager to run detections.</source>
      <translation>ONNX Runtime n'est pas installé ; installez-le depuis le gestionnaire de modèles de l'extension pour lancer des détections.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/write.py" line="170" />
      <source>ONNX model</source>
      <translation>Modèle ONNX</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/write.py" line="213" />
      <source>ONNX models described with the STAC MLM extension, published by IdF HR.</source>
      <translation>Modèles ONNX décrits avec l'extension STAC MLM, publiés par IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/stac.py" line="141" />
      <source>Objects (GeoPackage layer {layer})</source>
      <translation>Objets (couche GeoPackage {layer})</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/zonal.py" line="182" />
      <source>Objects were reprojected from {crs} to Lambert-93 (EPSG:2154).</source>
      <translation>Les objets ont été reprojetés de {crs} en Lambert-93 (EPSG:2154).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="649" />
      <source>Occlusion map cancelled.</source>
      <translation>Carte d'occultation annulée.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="290" />
      <source>Offline kit ready: {path}</source>
      <translation>Kit hors ligne prêt : {path}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="185" />
      <source>Offline pack ready: {path}</source>
      <translation>Paquet hors ligne prêt : {path}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="526" />
      <source>On the {role} crop the model does not find this object any more (no box overlaps it).</source>
      <translation>Sur l'extrait {role}, le modèle ne trouve plus cet objet (aucune boîte ne le recouvre).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="536" />
      <source>On this crop the score is {now:.2f}, {gap:.2f} away from the run's {was:.2f}: the object may have been cut by a tile border in the run, or the imagery may have changed since.</source>
      <translation>Sur cet extrait, le score est de {now:.2f}, à {gap:.2f} des {was:.2f} de l'exécution : l'objet a peut-être été coupé par un bord de dalle lors de l'exécution, ou l'imagerie a changé depuis.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/estimate.py" line="63" />
      <source>On {n} worker(s) like this computer: {jobs} job(s) of {tpj} tiles, ~{wall} wall, {cpu} CPU-hours, ~{wh} Wh (CPU only).</source>
      <translation>Sur {n} processus de travail comme cet ordinateur : {jobs} lot(s) de {tpj} dalles, ~{wall} écoulées, {cpu} heures CPU, ~{wh} Wh (CPU seul).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/errors.py" line="29" />
      <source>Operation cancelled by the user; nothing was written.</source>
      <translation>Opération annulée par l'utilisateur ; rien n'a été écrit.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="144" />
      <source>Part of the catalog was skipped: {url} could not be read ({error}).</source>
      <translation>Une partie du catalogue a été ignorée : {url} n'a pas pu être lu ({error}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="259" />
      <source>Preparing {name}…</source>
      <translation>Préparation de {name}…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="208" />
      <source>Publishing cancelled; nothing was published.</source>
      <translation>Publication annulée ; rien n'a été publié.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="110" />
      <source>Publishing into a STAC API also needs a results catalog folder: the API keeps the item, the folder keeps its GeoPackage and report. Give both.</source>
      <translation>La publication dans une API STAC demande aussi un dossier de catalogue de résultats : l'API garde l'item, le dossier garde son GeoPackage et son rapport. Indiquez les deux.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="117" />
      <source>Publishing into a STAC API also needs the http(s) URL where the results catalog folder is served (assets URL): the API's readers fetch the GeoPackage from there, and a remote catalog may not point at files on their computer. Give it.</source>
      <translation>La publication dans une API STAC demande aussi l'URL http(s) où le dossier du catalogue de résultats est servi (URL des ressources) : les lecteurs de l'API y récupèrent le GeoPackage, et un catalogue distant ne peut pas pointer vers des fichiers de leur ordinateur. Indiquez-la.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="65" />
      <source>Publishing to PostGIS needs the Python module psycopg2, which this Python lacks. Install it (Debian/Ubuntu: apt install python3-psycopg2; it ships with QGIS on Windows and macOS), or publish to a catalog folder only.</source>
      <translation>La publication dans PostGIS demande le module Python psycopg2, absent de ce Python. Installez-le (Debian/Ubuntu : apt install python3-psycopg2 ; il est fourni avec QGIS sous Windows et macOS), ou publiez seulement dans un dossier de catalogue.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="600" />
      <source>Ran on Dask: {n} job(s) of {t} tile(s), {r} retried, {s} resumed from {path}.</source>
      <translation>Exécuté sur Dask : {n} lot(s) de {t} dalle(s), {r} relancé(s), {s} repris depuis {path}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/tabular.py" line="146" />
      <source>Reading the Excel file {file} needs the Python package openpyxl, which is not installed. Save the sheet as CSV (UTF-8 or Windows-1252, ',' or ';') and load the CSV instead, or install openpyxl in the QGIS Python environment.</source>
      <translation>La lecture du fichier Excel {file} nécessite le paquet Python openpyxl, qui n'est pas installé. Enregistrez la feuille au format CSV (UTF-8 ou Windows-1252, ',' ou ';') et chargez plutôt ce CSV, ou installez openpyxl dans l'environnement Python de QGIS.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="481" />
      <source>Reading {source} failed ({error}). Check your network connection, then run the download again: it resumes where it stopped.</source>
      <translation>La lecture de {source} a échoué ({error}). Vérifiez votre connexion réseau, puis relancez le téléchargement : il reprendra là où il s'est arrêté.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="487" />
      <source>Reading {source} failed ({error}). The file may be damaged.</source>
      <translation>La lecture de {source} a échoué ({error}). Le fichier est peut-être endommagé.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="102" />
      <source>Red = hiding this area (with a grey square) lowered the score most: the model relied on it. Blue = hiding it raised the score. No colour = hiding it changed little, or it was not tested.</source>
      <translation>Rouge = masquer cette zone (par un carré gris) a le plus fait baisser le score : le modèle s'y est appuyé. Bleu = la masquer a fait monter le score. Sans couleur = la masquer a peu changé, ou elle n'a pas été testée.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/stac.py" line="149" />
      <source>Report (PDF)</source>
      <translation>Rapport (PDF)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="510" />
      <source>Request to {host} failed: {detail}</source>
      <translation>La requête vers {host} a échoué : {detail}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="79" />
      <source>Run {run} ({kind}, layer {layer}) published: {what}.</source>
      <translation>Exécution {run} ({kind}, couche {layer}) publiée : {what}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="265" />
      <source>Run {run} used a {task} model: only detections (boxes) can be explained object by object.</source>
      <translation>L'exécution {run} a utilisé un modèle de {task} : seules les détections (boîtes) peuvent être expliquées objet par objet.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/change.py" line="179" />
      <source>Run {run} was reprojected from {crs} to Lambert-93 (EPSG:2154).</source>
      <translation>L'exécution {run} a été reprojetée de {crs} en Lambert-93 (EPSG:2154).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="54" />
      <source>Running on a Dask cluster needs the Python packages 'dask' and 'distributed', which are not installed: install them (pip install dask distributed pyarrow) or run on this computer.</source>
      <translation>L'exécution sur une grappe Dask demande les paquets Python « dask » et « distributed », qui ne sont pas installés : installez-les (pip install dask distributed pyarrow) ou exécutez sur cet ordinateur.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="78" />
      <source>STAC API item {url}</source>
      <translation>item de l'API STAC {url}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="74" />
      <source>STAC item {path}</source>
      <translation>item STAC {path}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="125" />
      <source>Say where to publish: a results catalog folder, a PostGIS connection, or both.</source>
      <translation>Indiquez où publier : un dossier de catalogue de résultats, une connexion PostGIS, ou les deux.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="50" />
      <source>Search the catalog</source>
      <translation>Chercher dans le catalogue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/write.py" line="212" />
      <source>Shared AI models (IdF HR)</source>
      <translation>Modèles d'IA partagés (IdF HR)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/stac.py" line="221" />
      <source>Shared results (IdF HR)</source>
      <translation>Résultats partagés (IdF HR)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/report.py" line="137" />
      <source>Skipped tiles: {m} outside the mask, {nd} without data.</source>
      <translation>Tuiles ignorées : {m} hors du masque, {nd} sans données.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/tabular.py" line="179" />
      <source>Some columns were not found in {file}: {parts}. Columns present: {present}. Rename the columns or add their names as aliases in the IdF HR settings.</source>
      <translation>Certaines colonnes sont introuvables dans {file} : {parts}. Colonnes présentes : {present}. Renommez les colonnes ou ajoutez leurs noms comme alias dans les paramètres d'IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="61" />
      <source>Stream the imagery</source>
      <translation>Afficher l'imagerie en flux</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="176" />
      <source>The API refused the credentials: in QGIS choose its authentication configuration; on the command line set IDFHR_STAC_API_TOKEN to your token.</source>
      <translation>L'API a refusé les identifiants : dans QGIS, choisissez sa configuration d'authentification ; en ligne de commande, mettez votre jeton dans IDFHR_STAC_API_TOKEN.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="107" />
      <source>The ARCEP fibre figures bundled with the plugin are selected: click Compute coverage to map the share of premises connectable to fibre in each commune.</source>
      <translation>Les chiffres ARCEP de la fibre fournis avec l'extension sont sélectionnés : cliquez sur Calculer la couverture pour cartographier la part des locaux raccordables à la fibre dans chaque commune.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="96" />
      <source>The Analyse tab compares the two vintages with the same model: click Compare to map what appeared and disappeared between 2024 and 2026.</source>
      <translation>L'onglet Analyse compare les deux millésimes avec le même modèle : cliquez sur Comparer pour cartographier ce qui est apparu et disparu entre 2024 et 2026.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="463" />
      <source>The FttH file has no figures for the communes of this zone: check that it covers the MGP.</source>
      <translation>Le fichier FttH ne contient aucune donnée pour les communes de cette zone : vérifiez qu'il couvre la MGP.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="452" />
      <source>The FttH file has no premises column and no premises file was given: add the ARCEP communes file (Logements, Établissements) to put the fibre layer in the kit.</source>
      <translation>Le fichier FttH n'a pas de colonne de locaux et aucun fichier des locaux n'a été fourni : ajoutez le fichier communes de l'ARCEP (Logements, Établissements) pour inclure la couche fibre dans le kit.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="303" />
      <source>The GeoPackage '{path}' already has a layer '{layer}'; choose another file or layer name.</source>
      <translation>Le GeoPackage '{path}' contient déjà une couche '{layer}' ; choisissez un autre fichier ou un autre nom de couche.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/io.py" line="316" />
      <source>The GeoPackage '{path}' already has a layer '{layer}'; choose another layer name.</source>
      <translation>Le GeoPackage '{path}' contient déjà une couche '{layer}' ; choisissez un autre nom de couche.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/io.py" line="94" />
      <source>The GeoPackage '{path}' cannot be opened ({err}).</source>
      <translation>Le GeoPackage '{path}' ne peut pas être ouvert ({err}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="497" />
      <source>The GeoPackage '{path}' does not exist.</source>
      <translation>Le GeoPackage « {path} » n'existe pas.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/source.py" line="170" />
      <source>The GeoPackage '{path}' does not exist; choose the file holding the results to publish.</source>
      <translation>Le GeoPackage « {path} » n'existe pas ; choisissez le fichier contenant les résultats à publier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/io.py" line="114" />
      <source>The GeoPackage '{path}' is damaged or not a GeoPackage ({err}).</source>
      <translation>Le GeoPackage '{path}' est endommagé ou n'en est pas un ({err}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/gpkg_tx.py" line="187" />
      <source>The GeoPackage '{path}' stayed locked by another program for {seconds} seconds. Close what is writing to it (or choose another file) and run again; nothing was changed.</source>
      <translation>Le GeoPackage '{path}' est resté verrouillé par un autre programme pendant {seconds} secondes. Fermez ce qui y écrit (ou choisissez un autre fichier) et relancez ; rien n'a été modifié.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/gpkg_tx.py" line="315" />
      <source>The GeoPackage already has a table named '{name}' that is not a layer; choose another file or layer name (nothing was changed).</source>
      <translation>Le GeoPackage contient déjà une table nommée '{name}' qui n'est pas une couche ; choisissez un autre fichier ou un autre nom de couche (rien n'a été modifié).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/gpkg_tx.py" line="308" />
      <source>The GeoPackage already has a vector layer named '{name}'; choose another layer name for the imagery (nothing was changed).</source>
      <translation>Le GeoPackage contient déjà une couche vecteur nommée '{name}' ; choisissez un autre nom de couche pour l'imagerie (rien n'a été modifié).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="112" />
      <source>The IoS threshold</source>
      <translation>Le seuil d'IoS</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="111" />
      <source>The IoU threshold</source>
      <translation>Le seuil d'IoU</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/schema.py" line="60" />
      <source>The MLM schema refers to {url}, which has no local copy in {folder}.</source>
      <translation>Le schéma MLM fait référence à {url}, qui n'a pas de copie locale dans {folder}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="115" />
      <source>The PostGIS database {where} cannot be reached ({err}), so nothing was published. Check that the server is running and reachable from this computer, and the host, port, database, user and password of the connection (in QGIS: Data Source Manager &gt; PostgreSQL).</source>
      <translation>La base PostGIS {where} est injoignable ({err}) : rien n'a été publié. Vérifiez que le serveur tourne et est joignable depuis cet ordinateur, ainsi que l'hôte, le port, la base, l'utilisateur et le mot de passe de la connexion (dans QGIS : Gestionnaire des sources de données &gt; PostgreSQL).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="121" />
      <source>The PostGIS database {where} cannot be reached ({err}). Check that the server is running and reachable from this computer, and the settings of the connection.</source>
      <translation>La base PostGIS {where} est injoignable ({err}). Vérifiez que le serveur tourne et est joignable depuis cet ordinateur, ainsi que les paramètres de la connexion.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="274" />
      <source>The PostGIS database {where} refused the publish ({err}); nothing was published.</source>
      <translation>La base PostGIS {where} a refusé la publication ({err}) ; rien n'a été publié.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="129" />
      <source>The PostgreSQL connection string is not valid ({err}).</source>
      <translation>La chaîne de connexion PostgreSQL n'est pas valide ({err}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_api.py" line="213" />
      <source>The STAC API at {url} did not answer with an item collection. Check that the source URL points to a STAC API.</source>
      <translation>L'API STAC à l'adresse {url} n'a pas répondu par une collection d'items. Vérifiez que l'URL de la source pointe vers une API STAC.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/stac_api.py" line="63" />
      <source>The STAC API at {url} does not declare the Transactions extension, so it cannot receive published results; nothing was published. Publish into a results catalog folder, or ask its administrator to enable transactions.</source>
      <translation>L'API STAC à {url} ne déclare pas l'extension Transactions : elle ne peut donc pas recevoir de résultats publiés ; rien n'a été publié. Publiez dans un dossier de catalogue de résultats, ou demandez à son administrateur d'activer les transactions.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/browse.py" line="283" />
      <source>The STAC API at {url} repeats a page link: the list stops there and more runs may exist.</source>
      <translation>L'API STAC à {url} répète un lien de page : la liste s'arrête là et d'autres exécutions peuvent exister.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_api.py" line="127" />
      <source>The STAC API at {url} {why}: the search stopped after {n} results and more may exist. Narrow the search (smaller extent, fewer dates or collections) or report the problem to the service.</source>
      <translation>L'API STAC à l'adresse {url} {why} : la recherche s'est arrêtée après {n} résultats et il peut en exister d'autres. Affinez la recherche (emprise plus petite, moins de dates ou de collections) ou signalez le problème au service.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/wmts.py" line="109" />
      <source>The WMTS capabilities from {host} contain a DOCTYPE/ENTITY declaration, which IdF HR refuses for safety. Check that the address points to a WMTS service.</source>
      <translation>Les capacités WMTS de {host} contiennent une déclaration DOCTYPE/ENTITY, qu'IdF HR refuse par sécurité. Vérifiez que l'adresse pointe vers un service WMTS.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/wmts.py" line="129" />
      <source>The WMTS service at {host} answered with an error: {detail}</source>
      <translation>Le service WMTS de {host} a répondu par une erreur : {detail}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/wmts.py" line="367" />
      <source>The WMTS source “{name}” has no URL. Set the address of its GetCapabilities in the IdF HR settings (Catalog sources).</source>
      <translation>La source WMTS « {name} » n'a pas d'URL. Indiquez l'adresse de son GetCapabilities dans les paramètres d'IdF HR (Sources de catalogue).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="260" />
      <source>The address was not found: check the URL in the source settings.</source>
      <translation>Adresse introuvable : vérifiez l'URL dans les paramètres de la source.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/stac.py" line="99" />
      <source>The analysed area of the layer '{layer}' does not fall on the Earth once in longitude/latitude (bounds {bounds}); its coordinate reference system is probably wrong, so nothing was published.</source>
      <translation>La zone analysée de la couche « {layer} » ne tombe pas sur la Terre une fois en longitude/latitude (limites {bounds}) ; son système de coordonnées est probablement faux, donc rien n'a été publié.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="487" />
      <source>The answer from {host} was cut off before the end{got}. Try again; if it persists the service is unstable.</source>
      <translation>La réponse de {host} a été interrompue avant la fin{got}. Réessayez ; si le problème persiste, le service est instable.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="230" />
      <source>The archive "{title}" contains no shapefile (.shp), GeoJSON or GeoPackage. Files inside: {names}.</source>
      <translation>L'archive "{title}" ne contient ni shapefile (.shp), ni GeoJSON, ni GeoPackage. Fichiers présents : {names}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="394" />
      <source>The area ({w}x{h} px) is smaller than one tile ({ts} px): it is padded.</source>
      <translation>La zone ({w}x{h} px) est plus petite qu'une tuile ({ts} px) : elle est complétée (padding).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="75" />
      <source>The band mapping {bands} gives {n} channel(s) but the model expects {mc}.</source>
      <translation>L'affectation des bandes {bands} fournit {n} canal(aux), mais le modèle en attend {mc}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="118" />
      <source>The batch size</source>
      <translation>La taille de lot</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="137" />
      <source>The block size must be a multiple of 16, at least 64 pixels.</source>
      <translation>La taille de bloc doit être un multiple de 16, d'au moins 64 pixels.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="415" />
      <source>The boundaries have no contour for this zone: check the boundaries file.</source>
      <translation>Les limites ne contiennent aucun contour pour cette zone : vérifiez le fichier de limites.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="73" />
      <source>The bundled demo model will look for buildings, trees, pools and cars on the newest imagery, in the visible map extent, on this computer: click Run detection.</source>
      <translation>Le modèle de démonstration fourni va chercher bâtiments, arbres, piscines et voitures sur l'imagerie la plus récente, dans l'emprise visible de la carte, sur cet ordinateur : cliquez sur Lancer la détection.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/hrefs.py" line="79" />
      <source>The catalog contains an empty link; the catalog is malformed.</source>
      <translation>Le catalogue contient un lien vide ; le catalogue est mal formé.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="92" />
      <source>The catalog file {path} cannot be read ({error}). Check that it exists.</source>
      <translation>Le fichier de catalogue {path} ne peut pas être lu ({error}). Vérifiez qu'il existe.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="100" />
      <source>The catalog file {path} is not valid JSON; the catalog is damaged.</source>
      <translation>Le fichier de catalogue {path} n'est pas un JSON valide ; le catalogue est endommagé.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/stac_folder.py" line="52" />
      <source>The catalog folder {folder} cannot be written ({err}), so nothing was published: choose a folder you can write to, or ask its owner for write access.</source>
      <translation>Le dossier de catalogue {folder} n'est pas accessible en écriture ({err}) : rien n'a donc été publié. Choisissez un dossier dans lequel vous pouvez écrire, ou demandez un accès en écriture à son propriétaire.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="318" />
      <source>The catalog item of '{name}' gives no sha256 checksum (file:checksum) for its model, so the download cannot be verified and was not started. Ask the catalog's publisher to add it.</source>
      <translation>L'item de catalogue de '{name}' n'indique aucune somme de contrôle sha256 (file:checksum) pour son modèle : le téléchargement ne peut donc pas être vérifié et n'a pas été lancé. Demandez à l'éditeur du catalogue de l'ajouter.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/hrefs.py" line="61" />
      <source>The catalog refers to {href}, which uses the '{scheme}://' scheme: IdF HR only opens http(s) addresses and files of local catalogs. Ask the catalog provider for an http(s) link to this file, or download it and use a local catalog.</source>
      <translation>Le catalogue renvoie vers {href}, qui utilise le schéma '{scheme}://' : IdF HR n'ouvre que les adresses http(s) et les fichiers des catalogues locaux. Demandez au fournisseur du catalogue un lien http(s) vers ce fichier, ou téléchargez-le et utilisez un catalogue local.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="49" />
      <source>The catalog source “{name}” has an unknown kind '{kind}'. Choose one of: {kinds}.</source>
      <translation>La source de catalogue « {name} » a un type inconnu '{kind}'. Choisissez parmi : {kinds}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="57" />
      <source>The catalog source “{name}” has no URL yet. Open the IdF HR settings (Catalog sources), enter its address and enable it.</source>
      <translation>La source de catalogue « {name} » n'a pas encore d'URL. Ouvrez les paramètres d'IdF HR (Sources de catalogue), saisissez son adresse et activez-la.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_api.py" line="33" />
      <source>The catalog source “{name}” has no URL. Set the address of its STAC API in the IdF HR settings (Catalog sources).</source>
      <translation>La source de catalogue « {name} » n'a pas d'URL. Indiquez l'adresse de son API STAC dans les paramètres d'IdF HR (Sources de catalogue).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="77" />
      <source>The catalog source “{name}” has no URL. Set the address of its catalog.json in the IdF HR settings (Catalog sources).</source>
      <translation>La source de catalogue « {name} » n'a pas d'URL. Indiquez l'adresse de son catalog.json dans les paramètres d'IdF HR (Sources de catalogue).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="215" />
      <source>The change layer '{layer}' does not record the imagery and model of its two runs; compute the changes again with this version of IdF HR, or explain the objects of each vintage's detection layer.</source>
      <translation>La couche de changements « {layer} » n'enregistre pas l'imagerie ni le modèle de ses deux exécutions ; recalculez les changements avec cette version d'IdF HR, ou expliquez les objets de la couche de détections de chaque millésime.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="255" />
      <source>The chosen extent does not overlap the imagery of {source}. Pick an extent over it.</source>
      <translation>L'emprise choisie ne recoupe pas l'imagerie de {source}. Choisissez une emprise qui la recouvre.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="284" />
      <source>The chosen extent is smaller than one pixel of the imagery.</source>
      <translation>L'emprise choisie est plus petite qu'un pixel de l'imagerie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="110" />
      <source>The confidence threshold</source>
      <translation>Le seuil de confiance</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="267" />
      <source>The connection to the PostGIS database {where} was lost while publishing ({err}); the database rolled the publish back, so nothing was published. Try again once it is reachable.</source>
      <translation>La connexion à la base PostGIS {where} a été perdue pendant la publication ({err}) ; la base a annulé la publication, donc rien n'a été publié. Réessayez quand elle sera joignable.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/geometry.py" line="329" />
      <source>The coordinate system '{crs}' is neither geographic nor projected, so it cannot be converted to Lambert-93 metres for areas. Reproject the layer and try again.</source>
      <translation>Le système de coordonnées '{crs}' n'est ni géographique ni projeté : il ne peut donc pas être converti en mètres Lambert-93 pour le calcul des surfaces. Reprojetez la couche et réessayez.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/geometry.py" line="303" />
      <source>The coordinate system '{crs}' is not recognised ({err}); areas cannot be computed. Set the layer's CRS (for example EPSG:2154, Lambert-93) and try again.</source>
      <translation>Le système de coordonnées '{crs}' n'est pas reconnu ({err}) ; les surfaces ne peuvent pas être calculées. Définissez le SCR de la couche (par exemple EPSG:2154, Lambert-93) et réessayez.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="135" />
      <source>The data.gouv.fr dataset {id} does not exist (any more).</source>
      <translation>Le jeu de données data.gouv.fr {id} n'existe pas (ou plus).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="258" />
      <source>The database role of {where} may not write the shared results ({err}), so nothing was published. Ask the database administrator to grant this role INSERT, UPDATE, DELETE and SELECT on {schema}.{runs} and {schema}.{features} (and CREATE on the schema {schema} for the very first publish), or use a connection with write rights.</source>
      <translation>Le rôle de base de données de {where} n'a pas le droit d'écrire les résultats partagés ({err}) : rien n'a été publié. Demandez à l'administrateur de la base d'accorder à ce rôle INSERT, UPDATE, DELETE et SELECT sur {schema}.{runs} et {schema}.{features} (et CREATE sur le schéma {schema} pour la toute première publication), ou utilisez une connexion ayant les droits d'écriture.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="52" />
      <source>The database schema '{schema}' is not a plain SQL name (letters, digits, _).</source>
      <translation>Le schéma de base « {schema} » n'est pas un nom SQL simple (lettres, chiffres, _).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="236" />
      <source>The dataset {id} does not exist on {portal} (it may have been renamed). Search the catalog for its title.</source>
      <translation>Le jeu de données {id} n'existe pas sur {portal} (il a peut-être été renommé). Recherchez son titre dans le catalogue.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="370" />
      <source>The dataset {id} from {portal} contains a malformed geometry (feature {n}: {problem}). Nothing was loaded; report it to the data producer or filter it out with a where clause.</source>
      <translation>Le jeu de données {id} de {portal} contient une géométrie mal formée (entité {n} : {problem}). Rien n'a été chargé ; signalez-le au producteur de la donnée ou excluez cette entité avec une clause where.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="326" />
      <source>The dataset {id} has no geographic field, so it cannot be filtered by the map extent.</source>
      <translation>Le jeu de données {id} n'a pas de champ géographique : il ne peut donc pas être filtré selon l'emprise de la carte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="297" />
      <source>The dataset {id} has {total} matching records, but the Opendatasoft records API stops at 10,000. Load it through the GeoJSON export instead (the default in IdF HR), which has no limit.</source>
      <translation>Le jeu de données {id} compte {total} enregistrements correspondants, mais l'API records d'Opendatasoft s'arrête à 10 000. Chargez-le plutôt via l'export GeoJSON (le mode par défaut d'IdF HR), qui n'a pas de limite.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="381" />
      <source>The dataset {id} returned no records{filtered}. Nothing was loaded; widen the filter or the map extent.</source>
      <translation>Le jeu de données {id} n'a renvoyé aucun enregistrement{filtered}. Rien n'a été chargé ; élargissez le filtre ou l'emprise de la carte.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="105" />
      <source>The detection output {paths} already exists; choose another output name.</source>
      <translation>La sortie de détection {paths} existe déjà ; choisissez un autre nom de sortie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/change.py" line="97" />
      <source>The detections have {n} geometries but {c} classes, {s} scores and {l} labels; every detection needs one of each.</source>
      <translation>Les détections comptent {n} géométries mais {c} classes, {s} scores et {l} libellés ; chaque détection doit avoir une classe, un score et un libellé.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/wmts.py" line="136" />
      <source>The document from {host} is not WMTS capabilities (root element {tag}). Check that the address points to a WMTS GetCapabilities.</source>
      <translation>Le document de {host} n'est pas un document de capacités WMTS (élément racine {tag}). Vérifiez que l'adresse pointe vers un GetCapabilities WMTS.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/writer.py" line="96" />
      <source>The existing output '{path}' cannot be read.</source>
      <translation>La sortie existante '{path}' ne peut pas être lue.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/gpkg_tx.py" line="120" />
      <source>The existing output '{path}' is not a GeoPackage; choose another file name.</source>
      <translation>La sortie existante '{path}' n'est pas un GeoPackage ; choisissez un autre nom de fichier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/writer.py" line="99" />
      <source>The existing output '{path}' is read-only: make it writable or choose another file name.</source>
      <translation>La sortie existante '{path}' est en lecture seule : rendez-la accessible en écriture ou choisissez un autre nom de fichier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="248" />
      <source>The extent CRS {crs} is not understood ({error}).</source>
      <translation>Le SCR de l'emprise {crs} n'est pas reconnu ({error}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="243" />
      <source>The extent is empty: xmax must exceed xmin and ymax exceed ymin.</source>
      <translation>L'emprise est vide : xmax doit être supérieur à xmin et ymax supérieur à ymin.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="161" />
      <source>The extent {bbox} is not a valid longitude/latitude box (west, south, east, north). Zoom to the area of interest and try again.</source>
      <translation>L'emprise {bbox} n'est pas un rectangle longitude/latitude valide (ouest, sud, est, nord). Zoomez sur la zone d'intérêt et réessayez.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="346" />
      <source>The extent {ext} does not overlap the raster, which covers {rb} (in {crs}). Pick an extent over the imagery.</source>
      <translation>L'emprise {ext} ne recoupe pas le raster, qui couvre {rb} (en {crs}). Choisissez une emprise couvrant l'imagerie.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="328" />
      <source>The extent {ext} is not xmin,ymin,xmax,ymax with xmin &lt; xmax and ymin &lt; ymax.</source>
      <translation>L'emprise {ext} n'est pas de la forme xmin,ymin,xmax,ymax avec xmin &lt; xmax et ymin &lt; ymax.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="340" />
      <source>The file '{path}' does not exist; choose a GeoPackage written by IdF HR.</source>
      <translation>Le fichier '{path}' n'existe pas ; choisissez un GeoPackage écrit par IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="440" />
      <source>The file downloaded from {host} does not match its expected checksum (sha256 {got}… instead of {want}…). It was deleted; check the URL and the checksum, then try again.</source>
      <translation>Le fichier téléchargé depuis {host} ne correspond pas à la somme de contrôle attendue (sha256 {got}… au lieu de {want}…). Il a été supprimé ; vérifiez l'URL et la somme de contrôle, puis réessayez.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="147" />
      <source>The folder {path} does not exist: create it or choose another place for the kit.</source>
      <translation>Le dossier {path} n'existe pas : créez-le ou choisissez un autre emplacement pour le kit.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="52" />
      <source>The image {path} cannot be opened ({error}). Check the address or your network.</source>
      <translation>L'image {path} ne peut pas être ouverte ({error}). Vérifiez l'adresse ou votre réseau.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="397" />
      <source>The imagery '{path}' read by run {run} is no longer there; put it back where it was to explain this detection (web imagery streamed through QGIS is not kept: save it as a file, e.g. in an offline pack, and run the detection on that file).</source>
      <translation>L'imagerie « {path} » lue par l'exécution {run} n'est plus là ; remettez-la à sa place pour expliquer cette détection (l'imagerie web affichée en flux par QGIS n'est pas conservée : enregistrez-la dans un fichier, par exemple dans un paquet hors ligne, et lancez la détection sur ce fichier).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/runner.py" line="732" />
      <source>The imagery gives {n} channel(s) but the model expects {mc}.</source>
      <translation>L'imagerie fournit {n} canal(aux), mais le modèle en attend {mc}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="379" />
      <source>The imagery {source} does not cover the kit's zone: pick another vintage.</source>
      <translation>L'imagerie {source} ne couvre pas la zone du kit : choisissez un autre millésime.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="232" />
      <source>The imagery {source} has no coordinate reference system; it cannot be cut to an extent.</source>
      <translation>L'imagerie {source} n'a pas de système de coordonnées de référence ; elle ne peut pas être découpée selon une emprise.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="239" />
      <source>The imagery {source} is rotated; only north-up imagery can be packed.</source>
      <translation>L'imagerie {source} est pivotée ; seule une imagerie orientée nord en haut peut être empaquetée.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="62" />
      <source>The images of both vintages at 20 cm are selected in the list: click Add to map to stream them into QGIS.</source>
      <translation>Les images des deux millésimes à 20 cm sont sélectionnées dans la liste : cliquez sur Ajouter à la carte pour les afficher en flux dans QGIS.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="39" />
      <source>The item {id} has no image file to open (no GeoTIFF/JPEG 2000 asset).</source>
      <translation>L'item {id} n'a aucun fichier image à ouvrir (aucun asset GeoTIFF/JPEG 2000).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="481" />
      <source>The job folder '{path}' exists and is not empty; choose an empty or new folder.</source>
      <translation>Le dossier des lots « {path} » existe et n'est pas vide ; choisissez un dossier vide ou nouveau.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="467" />
      <source>The job folder '{path}' holds an unfinished or earlier run of these settings: pass --resume to finish it, or delete the folder to start again.</source>
      <translation>Le dossier des lots « {path} » contient une exécution inachevée ou antérieure avec ces réglages : passez --resume pour la terminer, ou supprimez le dossier pour recommencer.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="460" />
      <source>The job folder '{path}' holds the jobs of another run (other model, imagery, extent or settings); delete it or choose another folder.</source>
      <translation>Le dossier des lots « {path} » contient les lots d'une autre exécution (autre modèle, imagerie, emprise ou réglages) ; supprimez-le ou choisissez un autre dossier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="268" />
      <source>The kit part {name} was not written; run the kit again to retry.</source>
      <translation>L'élément {name} du kit n'a pas été écrit ; relancez la préparation du kit pour réessayer.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="369" />
      <source>The layer '{layer}' changed while it was being published ({n} features read, {m} expected); nothing was published. Publish it again.</source>
      <translation>La couche « {layer} » a changé pendant sa publication ({n} entités lues, {m} attendues) ; rien n'a été publié. Publiez-la de nouveau.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="253" />
      <source>The layer '{layer}' does not say which ground was analysed, so densities and the analysed fraction cannot be given; use a layer written by an IdF HR detection or change run.</source>
      <translation>La couche '{layer}' n'indique pas quel terrain a été analysé : les densités et la part analysée ne peuvent donc pas être fournies ; utilisez une couche écrite par une exécution IdF HR de détection ou de détection de changements.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/io.py" line="194" />
      <source>The layer '{layer}' has no class field (class_id, class or label); it is not a detection layer.</source>
      <translation>La couche '{layer}' n'a pas de champ de classe (class_id, class ou label) ; ce n'est pas une couche de détections.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/source.py" line="188" />
      <source>The layer '{layer}' has no coordinate reference system; it cannot be shared.</source>
      <translation>La couche « {layer} » n'a pas de système de coordonnées ; elle ne peut pas être partagée.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/io.py" line="203" />
      <source>The layer '{layer}' has no field {fields}.</source>
      <translation>La couche '{layer}' n'a pas de champ {fields}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="184" />
      <source>The layer '{layer}' has no object with fid {fid} (it holds {n} objects).</source>
      <translation>La couche « {layer} » n'a pas d'objet de fid {fid} (elle en contient {n}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/source.py" line="258" />
      <source>The layer '{layer}' has no objects and no recorded analysed area: there is nothing to publish.</source>
      <translation>La couche « {layer} » n'a ni objet ni zone analysée enregistrée : il n'y a rien à publier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="227" />
      <source>The layer '{layer}' has no run record (table idfhr_runs): only detection layers written by IdF HR can be explained.</source>
      <translation>La couche « {layer} » n'a pas d'enregistrement d'exécution (table idfhr_runs) : seules les couches de détections écrites par IdF HR peuvent être expliquées.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/io.py" line="80" />
      <source>The layer '{layer}' is not in '{path}' (layers: {names}).</source>
      <translation>La couche '{layer}' ne figure pas dans '{path}' (couches : {names}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="181" />
      <source>The layer '{layer}' is not in '{path}'.</source>
      <translation>La couche '{layer}' ne figure pas dans '{path}'.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/source.py" line="225" />
      <source>The layer '{layer}' mixes several runs ({ids}); publish one run per layer.</source>
      <translation>La couche « {layer} » mélange plusieurs exécutions ({ids}) ; publiez une exécution par couche.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/io.py" line="226" />
      <source>The layer '{layer}' mixes several values of {key} ({vals}); keep one run per layer.</source>
      <translation>La couche '{layer}' mélange plusieurs valeurs de {key} ({vals}) ; conservez une seule exécution par couche.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/geometry.py" line="318" />
      <source>The layer has no coordinate system, so its areas cannot be computed in metres. Set its CRS (for example EPSG:2154, Lambert-93) and try again.</source>
      <translation>La couche n'a pas de système de coordonnées : ses surfaces ne peuvent donc pas être calculées en mètres. Définissez son SCR (par exemple EPSG:2154, Lambert-93) et réessayez.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="252" />
      <source>The layer has none of the fields of a detection, change or zone-statistics layer (class_id/label, change, zone); choose a layer written by IdF HR.</source>
      <translation>La couche ne possède aucun des champs d'une couche de détections, de changements ou de statistiques par zone (class_id/label, change, zone) ; choisissez une couche écrite par IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/zonal.py" line="171" />
      <source>The layer has {n} geometries but {c} classes; every object needs a class.</source>
      <translation>La couche compte {n} géométries mais {c} classes ; chaque objet doit avoir une classe.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/gpkgio.py" line="124" />
      <source>The layer {layer} was not found in {path}.</source>
      <translation>La couche {layer} est introuvable dans {path}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/decoders.py" line="466" />
      <source>The layout '{layout}' does not produce detections.</source>
      <translation>La disposition '{layout}' ne produit pas de détections.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/hrefs.py" line="100" />
      <source>The link {href} is relative but the location of its catalog is unknown, so it cannot be opened. Open the catalog from its URL or file path.</source>
      <translation>Le lien {href} est relatif mais l'emplacement de son catalogue est inconnu : il ne peut donc pas être ouvert. Ouvrez le catalogue à partir de son URL ou de son chemin de fichier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/hrefs.py" line="119" />
      <source>The link {href} of the remote catalog at {base} leads outside the catalog (above {root}) and was refused. The catalog is malformed or unsafe: contact its provider.</source>
      <translation>Le lien {href} du catalogue distant situé à {base} sort du catalogue (au-dessus de {root}) et a été refusé. Le catalogue est mal formé ou non sûr : contactez son fournisseur.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="51" />
      <source>The map shows the demo region. The Catalog tab is set on the demo catalog and the map extent: click Search to list the aerial images of this place.</source>
      <translation>La carte montre la région de démonstration. L'onglet Catalogue est réglé sur le catalogue de démonstration et l'emprise de la carte : cliquez sur Rechercher pour lister les images aériennes de ce lieu.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/runner.py" line="600" />
      <source>The mask '{path}' holds no polygon.</source>
      <translation>Le masque '{path}' ne contient aucun polygone.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/runner.py" line="590" />
      <source>The mask '{path}' is not a readable vector file.</source>
      <translation>Le masque '{path}' n'est pas un fichier vecteur lisible.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="321" />
      <source>The mask holds no polygon; select at least one polygon feature.</source>
      <translation>Le masque ne contient aucun polygone ; sélectionnez au moins une entité polygone.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="357" />
      <source>The mask polygons do not overlap the raster and extent; nothing to detect.</source>
      <translation>Les polygones du masque ne recoupent pas le raster et l'emprise ; rien à détecter.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="125" />
      <source>The maximum ground sample distance must be a positive number of metres (e.g. 0.2), not {gsd}; leave it empty for any resolution.</source>
      <translation>La résolution au sol maximale doit être un nombre positif de mètres (p. ex. 0.2), et non {gsd} ; laissez-la vide pour accepter toute résolution.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="132" />
      <source>The maximum number of results must be at least 1 (got {n}).</source>
      <translation>Le nombre maximal de résultats doit être d'au moins 1 (valeur reçue : {n}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="640" />
      <source>The model '{name}' declares the task '{task}' (layout {layout}) with {classes}, but its output shapes are {shapes} where {expected} is expected. The export and its metadata disagree, so its results would be wrong: export the model again, or set its task and layout in the model card.</source>
      <translation>Le modèle '{name}' déclare la tâche '{task}' (disposition {layout}) avec {classes}, mais ses sorties ont les formes {shapes} alors que {expected} est attendu. L'export et ses métadonnées ne concordent pas, ses résultats seraient donc faux : exportez à nouveau le modèle, ou définissez sa tâche et sa disposition dans la fiche de modèle.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="302" />
      <source>The model '{name}' expects an input of shape {shape}; an image model takes (batch, channels, height, width).</source>
      <translation>Le modèle '{name}' attend une entrée de forme {shape} ; un modèle d'image prend (lot, canaux, hauteur, largeur).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="294" />
      <source>The model '{name}' has {n} inputs; only single-image models are supported.</source>
      <translation>Le modèle '{name}' a {n} entrées ; seuls les modèles à image unique sont pris en charge.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="543" />
      <source>The model '{name}' is a detector, but its output shape {shape} does not say which box layout it uses; set det_type in its metadata, or the layout in its model card.</source>
      <translation>Le modèle '{name}' est un détecteur, mais la forme de sa sortie {shape} n'indique pas quelle disposition de boîtes il utilise ; définissez det_type dans ses métadonnées, ou la disposition dans sa fiche de modèle.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/runner.py" line="677" />
      <source>The model '{name}' is a {task} model: it produces a raster, not objects, and cannot be used for detection. Choose a detection or segmentation model.</source>
      <translation>Le modèle '{name}' est un modèle de type {task} : il produit un raster, pas des objets, et ne peut pas servir à la détection. Choisissez un modèle de détection ou de segmentation.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="585" />
      <source>The model '{name}' is an Ultralytics '{task}' model; IdF HR runs detect, obb and segment models only. Export a detection, oriented-box or instance-segmentation model.</source>
      <translation>Le modèle '{name}' est un modèle Ultralytics '{task}' ; IdF HR n'exécute que les modèles detect, obb et segment. Exportez un modèle de détection, de boîtes orientées ou de segmentation d'instances.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="286" />
      <source>The model '{path}' does not match its expected sha256 ({want}; the file has {got}). The file is corrupted or is not the model you meant: download it again.</source>
      <translation>Le modèle '{path}' ne correspond pas au sha256 attendu ({want} ; le fichier a {got}). Le fichier est corrompu ou n'est pas le modèle voulu : téléchargez-le à nouveau.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="242" />
      <source>The model '{path}' used by run {run} is no longer there; put it back to explain this detection.</source>
      <translation>Le modèle « {path} » utilisé par l'exécution {run} n'est plus là ; remettez-le en place pour expliquer cette détection.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="224" />
      <source>The model cannot be read ({err}).</source>
      <translation>Le modèle ne peut pas être lu ({err}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="238" />
      <source>The model card '{path}' does not exist.</source>
      <translation>La fiche de modèle '{path}' n'existe pas.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="250" />
      <source>The model card '{path}' is not valid JSON ({err}); fix or remove it.</source>
      <translation>La fiche de modèle '{path}' n'est pas un JSON valide ({err}) ; corrigez-la ou supprimez-la.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="255" />
      <source>The model card '{path}' must hold a JSON object.</source>
      <translation>La fiche de modèle '{path}' doit contenir un objet JSON.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="374" />
      <source>The model card of '{name}' does not match the checksum its catalog item gives: the catalog is inconsistent or was tampered with, so nothing was installed.</source>
      <translation>La fiche de modèle de '{name}' ne correspond pas à la somme de contrôle indiquée par son item de catalogue : le catalogue est incohérent ou a été altéré, rien n'a donc été installé.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="529" />
      <source>The model card {card} is not valid JSON: {error}</source>
      <translation>La fiche de modèle {card} n'est pas un JSON valide : {error}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="427" />
      <source>The model card's sha256 differs from the run's: the card may describe another model.</source>
      <translation>Le sha256 de la fiche de modèle diffère de celui de l'exécution : la fiche décrit peut-être un autre modèle.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="626" />
      <source>The model does not find this object on its crop, so there is no score to explain with an occlusion map.</source>
      <translation>Le modèle ne trouve pas cet objet sur son extrait : il n'y a donc pas de score à expliquer par une carte d'occultation.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="68" />
      <source>The model expects {mc} channel(s) but the raster has {bc} band(s) ({ci}). Choose a band mapping (e.g. '1' or '1,2,3') or imagery that matches the model.</source>
      <translation>Le modèle attend {mc} canal(aux), mais le raster compte {bc} bande(s) ({ci}). Choisissez une affectation des bandes (p. ex. '1' ou '1,2,3') ou une imagerie adaptée au modèle.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="280" />
      <source>The model file '{path}' cannot be read ({err}).</source>
      <translation>Le fichier de modèle '{path}' ne peut pas être lu ({err}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/jobs.py" line="470" />
      <source>The model file '{path}' does not exist on worker {worker}: copy the model there (every worker needs it at that path) or give the path the workers see.</source>
      <translation>Le fichier de modèle « {path} » n'existe pas sur le processus de travail {worker} : copiez-y le modèle (chaque processus en a besoin à ce chemin) ou indiquez le chemin que voient les processus.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="275" />
      <source>The model file '{path}' does not exist or is not a file.</source>
      <translation>Le fichier de modèle '{path}' n'existe pas ou n'est pas un fichier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="235" />
      <source>The model file '{path}' does not exist.</source>
      <translation>Le fichier de modèle '{path}' n'existe pas.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="257" />
      <source>The model file '{path}' has changed since run {run} (sha256 {got}… instead of {want}…): an explanation would not be of the model that made this detection. Restore the model used by the run, or run the detection again.</source>
      <translation>Le fichier de modèle « {path} » a changé depuis l'exécution {run} (sha256 {got}… au lieu de {want}…) : l'explication ne porterait pas sur le modèle qui a fait cette détection. Restaurez le modèle utilisé par l'exécution, ou relancez la détection.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="344" />
      <source>The model file {path} listed by the catalog does not exist.</source>
      <translation>Le fichier de modèle {path} répertorié par le catalogue n'existe pas.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/runner.py" line="91" />
      <source>The model has a fixed {n} px input: tile size {t} px replaced by {n} px.</source>
      <translation>Le modèle a une entrée fixe de {n} px : taille de tuile de {t} px remplacée par {n} px.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/runner.py" line="87" />
      <source>The model input is {h}x{w} px; only square inputs are supported.</source>
      <translation>L'entrée du modèle est de {h}x{w} px ; seules les entrées carrées sont prises en charge.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="251" />
      <source>The model of run {run} cannot be loaded: {err}</source>
      <translation>Le modèle de l'exécution {run} ne peut pas être chargé : {err}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/decoders.py" line="113" />
      <source>The model output has shape {shape}, which does not fit the '{layout}' layout; choose the right model type (task/layout override).</source>
      <translation>La sortie du modèle a la forme {shape}, incompatible avec la disposition '{layout}' ; choisissez le bon type de modèle (forçage de la tâche/disposition).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/decoders.py" line="124" />
      <source>The model returned an output of shape {shape}, but its '{layout}' layout and its class list need {want} values per box on axis {axis}; its results would be wrong. Export the model again, or set its task and layout in the model card.</source>
      <translation>Le modèle a renvoyé une sortie de forme {shape}, mais sa disposition '{layout}' et sa liste de classes nécessitent {want} valeurs par boîte sur l'axe {axis} ; ses résultats seraient faux. Exportez à nouveau le modèle, ou définissez sa tâche et sa disposition dans la fiche de modèle.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/runner.py" line="690" />
      <source>The model sees only the centre of each tile: overlap raised to {ov} px.</source>
      <translation>Le modèle ne voit que le centre de chaque tuile : recouvrement porté à {ov} px.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="534" />
      <source>The model {name} does not match the sha256 of its card: it is damaged or not the one the card describes. Download it again.</source>
      <translation>Le modèle {name} ne correspond pas au sha256 de sa fiche : il est endommagé ou ce n'est pas celui que décrit la fiche. Téléchargez-le à nouveau.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="521" />
      <source>The model {name} has no card ({card}): a kit carries each model with its card.</source>
      <translation>Le modèle {name} n'a pas de fiche ({card}) : un kit embarque chaque modèle avec sa fiche.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="518" />
      <source>The model {path} does not exist.</source>
      <translation>Le modèle {path} n'existe pas.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="130" />
      <source>The number of threads</source>
      <translation>Le nombre de fils d'exécution</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="88" />
      <source>The number of workers must be at least 1 (got {n}).</source>
      <translation>Le nombre de processus de travail doit être au moins 1 (reçu : {n}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="493" />
      <source>The open-data file {path} does not exist.</source>
      <translation>Le fichier de données ouvertes {path} n'existe pas.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/writer.py" line="83" />
      <source>The output '{path}' exists and is not a file.</source>
      <translation>La sortie '{path}' existe et n'est pas un fichier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/io.py" line="306" />
      <source>The output '{path}' must be a GeoPackage file ending in .gpkg.</source>
      <translation>La sortie '{path}' doit être un fichier GeoPackage se terminant par .gpkg.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="132" />
      <source>The output CRS</source>
      <translation>Le SCR de sortie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/writer.py" line="78" />
      <source>The output folder '{path}' does not exist; create it or choose another folder.</source>
      <translation>Le dossier de sortie '{path}' n'existe pas ; créez-le ou choisissez un autre dossier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="122" />
      <source>The overlap</source>
      <translation>Le recouvrement</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="261" />
      <source>The overlap ({ov} px) must be at least 0 and smaller than the tile size ({ts} px).</source>
      <translation>Le recouvrement ({ov} px) doit être positif ou nul et inférieur à la taille de tuile ({ts} px).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="125" />
      <source>The overlap ({ov} px) must be smaller than the tile size ({ts} px).</source>
      <translation>Le recouvrement ({ov} px) doit être inférieur à la taille de tuile ({ts} px).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/source.py" line="37" />
      <source>The partner name '{name}' cannot be used: give your organisation's name (letters, digits, spaces, . ' ( ) &amp; / -; at most 80 characters), e.g. 'Vincennes' or 'EPT T10'.</source>
      <translation>Le nom de partenaire « {name} » ne peut pas être utilisé : indiquez le nom de votre organisation (lettres, chiffres, espaces, . ' ( ) &amp; / - ; 80 caractères au plus), p. ex. « Vincennes » ou « EPT T10 ».</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="178" />
      <source>The raster '{path}' cannot be opened ({err}). Check that the file exists and is a complete GeoTIFF, COG or other GDAL raster.</source>
      <translation>Le raster '{path}' ne peut pas être ouvert ({err}). Vérifiez que le fichier existe et qu'il s'agit d'un GeoTIFF, d'un COG ou d'un autre raster GDAL complet.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="173" />
      <source>The raster '{path}' could not be read ({err}): the file is damaged or incomplete. Download or copy it again.</source>
      <translation>Le raster '{path}' n'a pas pu être lu ({err}) : le fichier est endommagé ou incomplet. Téléchargez-le ou copiez-le à nouveau.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="273" />
      <source>The raster '{path}' has no coordinate reference system; georeference it first.</source>
      <translation>Le raster '{path}' n'a pas de système de coordonnées de référence ; géoréférencez-le d'abord.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="291" />
      <source>The raster '{path}' is in a geographic CRS (degrees); detections need metres. Reproject it to a projected CRS such as EPSG:2154 (Lambert-93) first.</source>
      <translation>Le raster '{path}' est dans un SCR géographique (degrés) ; les détections nécessitent des mètres. Reprojetez-le d'abord dans un SCR projeté tel que EPSG:2154 (Lambert-93).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/reader.py" line="133" />
      <source>The raster '{path}' is incomplete: its data needs {need} bytes but the file holds only {size} (an interrupted download or copy). Download or copy it again.</source>
      <translation>Le raster '{path}' est incomplet : ses données nécessitent {need} octets mais le fichier n'en contient que {size} (téléchargement ou copie interrompus). Téléchargez-le ou copiez-le à nouveau.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="298" />
      <source>The raster is in a geographic CRS (degrees): it is resampled on the fly to {crs} for detection, and results are written in {crs}.</source>
      <translation>Le raster est dans un SCR géographique (degrés) : il est rééchantillonné à la volée en {crs} pour la détection, et les résultats sont écrits en {crs}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="282" />
      <source>The raster's CRS ({src}) does not measure ground metres here (1 unit = {m:.3f} m on the ground): it is resampled on the fly to the metric CRS {crs} for detection, so resolution and areas are true; results are written in {crs}.</source>
      <translation>Le SCR du raster ({src}) ne mesure pas des mètres au sol ici (1 unité = {m:.3f} m au sol) : il est rééchantillonné à la volée dans le SCR métrique {crs} pour la détection, afin que la résolution et les surfaces soient exactes ; les résultats sont écrits en {crs}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/hrefs.py" line="88" />
      <source>The remote catalog at {base} points to the local file {href}. A remote catalog may not open files on this computer, so this link was refused. Ask the catalog provider to publish the file over http(s).</source>
      <translation>Le catalogue distant situé à {base} pointe vers le fichier local {href}. Un catalogue distant ne peut pas ouvrir de fichiers sur cet ordinateur : ce lien a donc été refusé. Demandez au fournisseur du catalogue de publier le fichier en http(s).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="137" />
      <source>The report '{path}' does not exist; give the PDF of this run or no report.</source>
      <translation>Le rapport « {path} » n'existe pas ; indiquez le PDF de cette exécution ou aucun rapport.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="143" />
      <source>The report language '{lang}' is not available; choose fr or en.</source>
      <translation>La langue de rapport '{lang}' n'est pas disponible ; choisissez fr ou en.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="261" />
      <source>The resolution must be a positive number of metres per pixel.</source>
      <translation>La résolution doit être un nombre positif de mètres par pixel.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="194" />
      <source>The resource "{title}" has a malformed geometry (feature {n}: {problem}).</source>
      <translation>La ressource "{title}" contient une géométrie mal formée (entité {n} : {problem}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="186" />
      <source>The resource "{title}" is JSON but not GeoJSON (no FeatureCollection).</source>
      <translation>La ressource "{title}" est du JSON mais pas du GeoJSON (aucune FeatureCollection).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="156" />
      <source>The resource "{title}" is in the format {fmt}, which IdF HR cannot load as a layer. Supported formats: {supported}.</source>
      <translation>La ressource "{title}" est au format {fmt}, qu'IdF HR ne peut pas charger en tant que couche. Formats pris en charge : {supported}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="210" />
      <source>The resource "{title}" is not a readable GeoPackage.</source>
      <translation>La ressource "{title}" n'est pas un GeoPackage lisible.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="223" />
      <source>The resource "{title}" is not a valid ZIP archive.</source>
      <translation>La ressource "{title}" n'est pas une archive ZIP valide.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="180" />
      <source>The resource "{title}" is not valid JSON, so it cannot be loaded as GeoJSON.</source>
      <translation>La ressource "{title}" n'est pas un JSON valide : elle ne peut donc pas être chargée en GeoJSON.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/change.py" line="163" />
      <source>The run '{run}' has no analysed area, so new and removed objects cannot be told apart from unanalysed ground; give the extent the run covered.</source>
      <translation>L'exécution '{run}' n'a pas de zone analysée : les objets apparus ou disparus ne peuvent donc pas être distingués du terrain non analysé ; indiquez l'emprise couverte par l'exécution.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="399" />
      <source>The run records of '{path}' could not be read.</source>
      <translation>Les enregistrements des exécutions de '{path}' n'ont pas pu être lus.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="514" />
      <source>The run {run} cannot be read from {where} ({err}).</source>
      <translation>L'exécution {run} ne peut pas être lue depuis {where} ({err}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="442" />
      <source>The run {run} of partner '{partner}' is not in the shared results of {where}.</source>
      <translation>L'exécution {run} du partenaire « {partner} » n'est pas dans les résultats partagés de {where}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="329" />
      <source>The run {run} of partner '{partner}' was published by the database role '{owner}', not '{me}'; it was left as it is and nothing was published. Publish under your own partner name, or ask '{owner}' to publish it again.</source>
      <translation>L'exécution {run} du partenaire « {partner} » a été publiée par le rôle de base « {owner} », pas « {me} » ; elle est laissée telle quelle et rien n'a été publié. Publiez sous votre propre nom de partenaire, ou demandez à « {owner} » de la republier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="151" />
      <source>The run {run} was published in PostGIS ({n} features) but not in the catalog: {err} Publish it again once the folder is fixed (the PostGIS rows are then replaced, not doubled).</source>
      <translation>L'exécution {run} a été publiée dans PostGIS ({n} entités) mais pas dans le catalogue : {err} Publiez-la de nouveau une fois le dossier corrigé (les lignes PostGIS seront alors remplacées, pas doublées).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="166" />
      <source>The run {run} was published in the catalog folder{pg} but not in the STAC API: {err} Publish it again once the API answers (the item is then replaced, not doubled).</source>
      <translation>L'exécution {run} a été publiée dans le dossier du catalogue{pg} mais pas dans l'API STAC : {err} Publiez-la de nouveau quand l'API répondra (l'item sera alors remplacé, pas doublé).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="480" />
      <source>The runs do not record their analysed area: the analysed share of each zone is taken from the extent of the objects found, so it may be underestimated.</source>
      <translation>Les exécutions n'enregistrent pas leur zone analysée : la part analysée de chaque zone est déduite de l'emprise des objets trouvés, elle peut donc être sous-estimée.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/schema.py" line="40" />
      <source>The schema file {path} cannot be read ({err}).</source>
      <translation>Le fichier de schéma {path} ne peut pas être lu ({err}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="100" />
      <source>The search extent has a value that is not a number.</source>
      <translation>L'emprise de recherche contient une valeur qui n'est pas un nombre.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="97" />
      <source>The search extent must be four numbers: west, south, east, north (WGS84 degrees).</source>
      <translation>L'emprise de recherche doit comporter quatre nombres : ouest, sud, est, nord (degrés WGS84).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="103" />
      <source>The search extent {w},{s},{e},{n} is inverted (west is east of east, or south north of north): give it as west,south,east,north.</source>
      <translation>L'emprise de recherche {w},{s},{e},{n} est inversée (l'ouest est à l'est de l'est, ou le sud au nord du nord) : indiquez-la sous la forme ouest,sud,est,nord.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="110" />
      <source>The search extent {w},{s},{e},{n} is outside longitude -180..180 / latitude -90..90: give it in WGS84 degrees (west,south,east,north).</source>
      <translation>L'emprise de recherche {w},{s},{e},{n} sort des limites longitude -180..180 / latitude -90..90 : indiquez-la en degrés WGS84 (ouest,sud,est,nord).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="113" />
      <source>The segmentation threshold</source>
      <translation>Le seuil de segmentation</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="355" />
      <source>The server at {host} answered HTTP {status} for {url}.</source>
      <translation>Le serveur {host} a répondu HTTP {status} pour {url}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/cached_http.py" line="220" />
      <source>The server at {host} did not say how large {url} is (no Content-Range or Content-Length). It cannot be streamed; download the file instead.</source>
      <translation>Le serveur {host} n'a pas indiqué la taille de {url} (ni Content-Range ni Content-Length). Il ne peut pas être diffusé ; téléchargez plutôt le fichier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="69" />
      <source>The server at {host} did not send valid JSON. Check that the address points to the right service.</source>
      <translation>Le serveur {host} n'a pas renvoyé de JSON valide. Vérifiez que l'adresse pointe vers le bon service.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/wmts.py" line="119" />
      <source>The server at {host} did not send valid WMTS capabilities (invalid XML: {error}). Check that the address points to a WMTS service.</source>
      <translation>Le serveur {host} n'a pas renvoyé de capacités WMTS valides (XML invalide : {error}). Vérifiez que l'adresse pointe vers un service WMTS.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="414" />
      <source>The server at {host} sent a partial answer without a valid Content-Range.</source>
      <translation>Le serveur {host} a renvoyé une réponse partielle sans Content-Range valide.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="423" />
      <source>The server at {host} sent an empty chunk.</source>
      <translation>Le serveur {host} a renvoyé un bloc vide.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/cached_http.py" line="280" />
      <source>The server at {host} sent {got} bytes at offset {at} instead of {want} bytes at offset {start} for {url}. Try again; if it persists the service is unstable.</source>
      <translation>Le serveur {host} a renvoyé {got} octets à la position {at} au lieu de {want} octets à la position {start} pour {url}. Réessayez ; si le problème persiste, le service est instable.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="264" />
      <source>The service is failing on its side: try again later.</source>
      <translation>Le service rencontre une défaillance de son côté : réessayez plus tard.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="262" />
      <source>The service is rate-limiting requests: wait a minute and try again.</source>
      <translation>Le service limite le nombre de requêtes : patientez une minute et réessayez.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="242" />
      <source>The shapefile {name} in "{title}" lacks its .dbf or .shx companion file.</source>
      <translation>Il manque au shapefile {name} de "{title}" son fichier associé .dbf ou .shx.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/postgis.py" line="99" />
      <source>The shared results of {where} cannot be read ({err}).</source>
      <translation>Les résultats partagés de {where} ne peuvent pas être lus ({err}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="213" />
      <source>The source “{name}” failed unexpectedly: {error}</source>
      <translation>La source « {name} » a échoué de manière inattendue : {error}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/sources.py" line="119" />
      <source>The start date {start} is after the end date {end}: swap them or correct one.</source>
      <translation>La date de début {start} est postérieure à la date de fin {end} : inversez-les ou corrigez l'une d'elles.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/cache.py" line="85" />
      <source>The tile cache folder {path} cannot be used ({error}). Choose another cache folder in the IdF HR settings or free some disk space.</source>
      <translation>Le dossier de cache des tuiles {path} ne peut pas être utilisé ({error}). Choisissez un autre dossier de cache dans les paramètres d'IdF HR ou libérez de l'espace disque.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="120" />
      <source>The tile size</source>
      <translation>La taille de tuile</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/tiling.py" line="258" />
      <source>The tile size must be at least 8 pixels (got {n}).</source>
      <translation>La taille de tuile doit être d'au moins 8 pixels (valeur reçue : {n}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/change.py" line="148" />
      <source>The two runs come from different models ('{a}' and '{b}'), so their detections cannot be compared; run the same model on both vintages.</source>
      <translation>Les deux exécutions proviennent de modèles différents ('{a}' et '{b}') : leurs détections ne peuvent donc pas être comparées ; exécutez le même modèle sur les deux millésimes.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/change.py" line="194" />
      <source>The two runs do not overlap (their analysed areas have no common ground), so nothing can be compared; run both vintages over the same extent.</source>
      <translation>Les deux exécutions ne se recoupent pas (leurs zones analysées n'ont aucune partie commune) : rien ne peut donc être comparé ; traitez les deux millésimes sur la même emprise.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/explain/explain.py" line="505" />
      <source>The two runs of this change layer used different models; they cannot be explained together.</source>
      <translation>Les deux exécutions de cette couche de changements ont utilisé des modèles différents ; elles ne peuvent pas être expliquées ensemble.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="509" />
      <source>The zone file '{path}' cannot be opened ({err}); choose a vector file.</source>
      <translation>Le fichier de zones '{path}' ne peut pas être ouvert ({err}) ; choisissez un fichier vecteur.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/report_data.py" line="515" />
      <source>The zone file has no field '{field}' (fields: {fields}); choose the field naming the zones.</source>
      <translation>Le fichier de zones n'a pas de champ '{field}' (champs : {fields}) ; choisissez le champ qui nomme les zones.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/zonal.py" line="162" />
      <source>The zones have no name for every feature; choose the field that names the zones (for example the commune name) and try again.</source>
      <translation>Les zones n'ont pas toutes un nom ; choisissez le champ qui nomme les zones (par exemple le nom de la commune) et réessayez.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="157" />
      <source>The zones layer has no field '{field}' to name the zones; choose one of its fields: {fields}.</source>
      <translation>La couche de zones n'a pas de champ '{field}' pour nommer les zones ; choisissez l'un de ses champs : {fields}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="207" />
      <source>The zones must be commune, ept, mgp or a polygon file, not '{z}'.</source>
      <translation>Les zones doivent être commune, ept, mgp ou un fichier de polygones, et non '{z}'.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="85" />
      <source>The {what} '{path}' does not exist or is not a file; check the path.</source>
      <translation>Le {what} '{path}' n'existe pas ou n'est pas un fichier ; vérifiez le chemin.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="616" />
      <source>There is not enough free disk space in {folder} for this offline pack. Free some space or choose another folder, then run it again: it resumes where it stopped.</source>
      <translation>L'espace disque libre dans {folder} est insuffisant pour ce paquet hors ligne. Libérez de l'espace ou choisissez un autre dossier, puis relancez : le téléchargement reprendra là où il s'est arrêté.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/gpkg_tx.py" line="225" />
      <source>There is not enough free disk space in {folder} to write the results. Free some space or choose another output folder; nothing was changed.</source>
      <translation>Il n'y a pas assez d'espace disque libre dans {folder} pour écrire les résultats. Libérez de l'espace ou choisissez un autre dossier de sortie ; rien n'a été modifié.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="156" />
      <source>These images cannot be mosaicked together: they have different band counts ({counts}), e.g. RGB and infrared. Select images of one product.</source>
      <translation>Ces images ne peuvent pas être assemblées en mosaïque : leurs nombres de bandes diffèrent ({counts}), p. ex. RGB et infrarouge. Sélectionnez des images d'un même produit.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="149" />
      <source>These images cannot be mosaicked together: they use different coordinate systems ({crss}). Select images of one vintage and one projection.</source>
      <translation>Ces images ne peuvent pas être assemblées en mosaïque : elles utilisent des systèmes de coordonnées différents ({crss}). Sélectionnez des images d'un même millésime et d'une même projection.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/read.py" line="72" />
      <source>This MLM item cannot be used: {problems}</source>
      <translation>Cet item MLM est inutilisable : {problems}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/read.py" line="225" />
      <source>This model is made for {framework}; the plugin runs ONNX models only, so it cannot run here. Ask its publisher for an ONNX export.</source>
      <translation>Ce modèle est conçu pour {framework} ; l'extension n'exécute que des modèles ONNX, il ne peut donc pas s'exécuter ici. Demandez un export ONNX à son éditeur.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="135" />
      <source>Unknown compression {name}: choose DEFLATE or JPEG.</source>
      <translation>Compression {name} inconnue : choisissez DEFLATE ou JPEG.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="351" />
      <source>Unknown output layout '{layout}'; choose one of: {layouts}.</source>
      <translation>Disposition de sortie '{layout}' inconnue ; choisissez parmi : {layouts}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="132" />
      <source>Unknown pack format {fmt}: choose COG or GPKG.</source>
      <translation>Format de paquet {fmt} inconnu : choisissez COG ou GPKG.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="345" />
      <source>Unknown task '{task}'; choose one of: {tasks}.</source>
      <translation>Tâche '{task}' inconnue ; choisissez parmi : {tasks}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/themes.py" line="124" />
      <source>Unknown theme {key}; known themes: {known}.</source>
      <translation>Thématique {key} inconnue ; thématiques connues : {known}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/guided_session.py" line="84" />
      <source>Why did the model see an object there? Click “Why this detection?”, then click an object found on the map: a window shows what the model saw, its scores and the classes it hesitated between.</source>
      <translation>Pourquoi le modèle a-t-il vu un objet ici ? Cliquez sur « Pourquoi cette détection ? », puis sur un objet trouvé sur la carte : une fenêtre montre ce que le modèle a vu, ses scores et les classes entre lesquelles il a hésité.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/jobs.py" line="490" />
      <source>Worker {worker} refused the run: its model '{path}' has sha256 {got}, not {want} as the client's. Copy the same model file to every worker.</source>
      <translation>Le processus de travail {worker} a refusé l'exécution : son modèle « {path} » a le sha256 {got}, et non {want} comme celui du client. Copiez le même fichier de modèle sur chaque processus.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/gpkg_tx.py" line="231" />
      <source>Writing the GeoPackage '{path}' failed ({err}); nothing was changed.</source>
      <translation>L'écriture du GeoPackage '{path}' a échoué ({err}) ; rien n'a été modifié.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="278" />
      <source>Writing the QGIS project…</source>
      <translation>Écriture du projet QGIS…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/writer.py" line="384" />
      <source>Writing the results to a temporary file in {folder} failed ({err}); free some disk space or choose another output folder. Nothing was written.</source>
      <translation>L'écriture des résultats dans un fichier temporaire de {folder} a échoué ({err}) ; libérez de l'espace disque ou choisissez un autre dossier de sortie. Rien n'a été écrit.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/offline.py" line="174" />
      <source>Writing {name}…</source>
      <translation>Écriture de {name}…</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/report.py" line="144" />
      <source>Written to {path} (layer {layer}).</source>
      <translation>Écrit dans {path} (couche {layer}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/zonal.py" line="178" />
      <source>Zones were reprojected from {crs} to Lambert-93 (EPSG:2154).</source>
      <translation>Les zones ont été reprojetées de {crs} en Lambert-93 (EPSG:2154).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/tms.py" line="87" />
      <source>Zoom level {z} does not exist in tile matrix set {tms} (0 to {max}).</source>
      <translation>Le niveau de zoom {z} n'existe pas dans la grille de tuilage {tms} (0 à {max}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="638" />
      <source>an unknown number of classes</source>
      <translation>un nombre inconnu de classes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="396" />
      <source>and {n} more zones</source>
      <translation>et {n} autres zones</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="617" />
      <source>building state</source>
      <translation>état de l'immeuble</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="84" />
      <source>bundled</source>
      <translation>fourni</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="319" />
      <source>businesses (Établissements)</source>
      <translation>entreprises (Établissements)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/read.py" line="40" />
      <source>cannot run here</source>
      <translation>ne peut pas s'exécuter ici</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/read.py" line="36" />
      <source>catalog</source>
      <translation>catalogue</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="270" />
      <source>connectable premises</source>
      <translation>locaux raccordables</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/browse.py" line="195" />
      <source>counts per class</source>
      <translation>effectifs par classe</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/browse.py" line="197" />
      <source>extent</source>
      <translation>emprise</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/estimate.py" line="120" />
      <source>given</source>
      <translation>indiqué</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="318" />
      <source>housing (Logements)</source>
      <translation>logements (Logements)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/browse.py" line="196" />
      <source>imagery date</source>
      <translation>date de l'imagerie</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/read.py" line="38" />
      <source>invalid MLM item</source>
      <translation>item MLM invalide</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="122" />
      <source>kB</source>
      <translation>ko</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="266" />
      <source>latitude / y</source>
      <translation>latitude / y</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="264" />
      <source>longitude / x</source>
      <translation>longitude / x</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="108" />
      <source>mask file</source>
      <translation>fichier de masque</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/estimate.py" line="131" />
      <source>measured on {k} tiles here</source>
      <translation>mesuré ici sur {k} dalles</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/browse.py" line="194" />
      <source>model</source>
      <translation>modèle</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="84" />
      <source>my models</source>
      <translation>mes modèles</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/read.py" line="100" />
      <source>no asset has the role {role}</source>
      <translation>aucun asset n'a le rôle {role}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/browse.py" line="193" />
      <source>partner</source>
      <translation>partenaire</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="271" />
      <source>quarter (or quarter columns like "T1 2018")</source>
      <translation>trimestre (ou colonnes de trimestre comme "T1 2018")</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="106" />
      <source>raster</source>
      <translation>raster</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="478" />
      <source>received {received} bytes</source>
      <translation>{received} octets reçus</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="472" />
      <source>received {received} of {expected} bytes</source>
      <translation>{received} octets reçus sur {expected}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_api.py" line="182" />
      <source>repeats a 'next' page link it already gave</source>
      <translation>répète un lien de page 'next' déjà fourni</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="48" />
      <source>retrieved 1 hour ago</source>
      <translation>récupéré il y a 1 heure</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="42" />
      <source>retrieved 1 minute ago</source>
      <translation>récupéré il y a 1 minute</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="38" />
      <source>retrieved just now</source>
      <translation>récupéré à l'instant</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="49" />
      <source>retrieved {n} days ago</source>
      <translation>récupéré il y a {n} jours</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="48" />
      <source>retrieved {n} hours ago</source>
      <translation>récupéré il y a {n} heures</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/cache.py" line="44" />
      <source>retrieved {n} minutes ago</source>
      <translation>récupéré il y a {n} minutes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="192" />
      <source>row selector (which rows hold the connectable premises)</source>
      <translation>sélecteur de lignes (lignes contenant les locaux raccordables)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="212" />
      <source>rows of connectable premises (column Champ)</source>
      <translation>lignes des locaux raccordables (colonne Champ)</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/browse.py" line="204" />
      <source>run details</source>
      <translation>détails de l'exécution</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="86" />
      <source>shared catalog</source>
      <translation>catalogue partagé</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_api.py" line="196" />
      <source>still had more pages after {n}</source>
      <translation>comportait encore des pages au-delà de {n}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/read.py" line="79" />
      <source>the document is not a JSON object</source>
      <translation>le document n'est pas un objet JSON</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/estimate.py" line="135" />
      <source>the model card's {s} s/Mpx</source>
      <translation>les {s} s/Mpx de la fiche du modèle</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/models_registry.py" line="88" />
      <source>unusable</source>
      <translation>inutilisable</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="476" />
      <source>{expected} bytes expected</source>
      <translation>{expected} octets attendus</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/read.py" line="84" />
      <source>{field} is missing</source>
      <translation>{field} est manquant</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/read.py" line="89" />
      <source>{field} must be a list</source>
      <translation>{field} doit être une liste</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/mlm/read.py" line="86" />
      <source>{field} must be a non-empty text</source>
      <translation>{field} doit être un texte non vide</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/tabular.py" line="159" />
      <source>{file} cannot be read ({error}): check the path and that the file is readable.</source>
      <translation>{file} ne peut pas être lu ({error}) : vérifiez le chemin et que le fichier est lisible.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="245" />
      <source>{file} gives Paris (75056) only {n} connectable premises ({q}), whereas Paris has about 1.5 million premises: these figures are not counts of connectable premises. Check the row selector (Champ) and the quarter columns of the file.</source>
      <translation>{file} n'attribue à Paris (75056) que {n} locaux raccordables ({q}), alors que Paris compte environ 1,5 million de locaux : ces chiffres ne sont pas des nombres de locaux raccordables. Vérifiez le sélecteur de lignes (Champ) et les colonnes de trimestre du fichier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/tabular.py" line="135" />
      <source>{file} is not a CSV/XLSX text file (it holds binary data or unreadable lines): pick the table exported as CSV (',' or ';' separated) or XLSX.</source>
      <translation>{file} n'est pas un fichier texte CSV/XLSX (il contient des données binaires ou des lignes illisibles) : choisissez le tableau exporté en CSV (séparé par ',' ou ';') ou en XLSX.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/tabular.py" line="165" />
      <source>{file} is not a readable XLSX workbook (damaged, or another format with an .xlsx name): open it in a spreadsheet and save it again as XLSX or CSV.</source>
      <translation>{file} n'est pas un classeur XLSX lisible (endommagé, ou d'un autre format avec une extension .xlsx) : ouvrez-le dans un tableur et enregistrez-le à nouveau en XLSX ou en CSV.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="503" />
      <source>{host} accepted the connection, then closed it without answering. Try again; if it persists the service is failing.</source>
      <translation>{host} a accepté la connexion, puis l'a fermée sans répondre. Réessayez ; si le problème persiste, le service est défaillant.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="222" />
      <source>{host} did not answer like an Opendatasoft Explore API v2.1 catalog.</source>
      <translation>{host} n'a pas répondu comme un catalogue Opendatasoft Explore API v2.1.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/datagouv.py" line="123" />
      <source>{host} did not answer like the data.gouv.fr API.</source>
      <translation>{host} n'a pas répondu comme l'API de data.gouv.fr.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/boundaries.py" line="344" />
      <source>{host} did not answer with GeoJSON communes (format=geojson).</source>
      <translation>{host} n'a pas renvoyé de communes au format GeoJSON (format=geojson).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="461" />
      <source>{host} did not answer within {timeout} s: the request was sent but no answer came back. The service may be overloaded: try again later, or raise the timeout in the IdF HR settings.</source>
      <translation>{host} n'a pas répondu dans les {timeout} s : la requête a été envoyée mais aucune réponse n'est revenue. Le service est peut-être surchargé : réessayez plus tard, ou augmentez le délai d'attente dans les paramètres d'IdF HR.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/boundaries.py" line="199" />
      <source>{host} returned contours for {n} of the {total} MGP communes. Try again later, or load the boundaries from a local file.</source>
      <translation>{host} a renvoyé les contours de {n} des {total} communes de la MGP. Réessayez plus tard, ou chargez les limites depuis un fichier local.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/http.py" line="483" />
      <source>{host} started answering, then stopped sending for {timeout} s{got}. Try again later; if it persists the service is unstable.</source>
      <translation>{host} a commencé à répondre, puis n'a plus rien envoyé pendant {timeout} s{got}. Réessayez plus tard ; si le problème persiste, le service est instable.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/mosaic.py" line="27" />
      <source>{href} uses the '{scheme}://' scheme, which IdF HR cannot open: use an http(s) address or a local file.</source>
      <translation>{href} utilise le schéma '{scheme}://', qu'IdF HR ne peut pas ouvrir : utilisez une adresse http(s) ou un fichier local.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/stac.py" line="135" />
      <source>{kind} of the model {model}, published by {partner}.</source>
      <translation>{kind} du modèle {model}, publié par {partner}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="102" />
      <source>{label} is not a quarter like "T1 2018".</source>
      <translation>{label} n'est pas un trimestre de la forme "T1 2018".</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="66" />
      <source>{name} '{value}' is not a coordinate reference system I know; use e.g. EPSG:2154.</source>
      <translation>{name} '{value}' n'est pas un système de coordonnées de référence connu ; utilisez p. ex. EPSG:2154.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/boundaries.py" line="280" />
      <source>{name} has no contour to zoom to.</source>
      <translation>{name} n'a pas de contour sur lequel zoomer.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="144" />
      <source>{name} must be a finite number (got {value}).</source>
      <translation>{name} doit être un nombre fini (valeur reçue : {value}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="140" />
      <source>{name} must be a number (got '{value}').</source>
      <translation>{name} doit être un nombre (valeur reçue : '{value}').</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="37" />
      <source>{name} must be a whole number (got '{value}').</source>
      <translation>{name} doit être un nombre entier (valeur reçue : '{value}').</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="41" />
      <source>{name} must be at least {min} (got {value}).</source>
      <translation>{name} doit valoir au moins {min} (valeur reçue : {value}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="26" />
      <source>{name} must be between 0 and 1 (got {value}).</source>
      <translation>{name} doit être un nombre compris entre 0 et 1 (valeur reçue : {value}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="43" />
      <source>{name} must be between {min} and {max} (got {value}).</source>
      <translation>{name} doit être un nombre compris entre {min} et {max} (valeur reçue : {value}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/params.py" line="53" />
      <source>{name} must be greater than 0 (got {value}).</source>
      <translation>{name} doit être un nombre supérieur à 0 (valeur reçue : {value}).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/model.py" line="638" />
      <source>{n} classes</source>
      <translation>{n} classes</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="385" />
      <source>{n} commune-quarter values had more connectable premises than premises and were capped at 100 % (the two counts come from different years).</source>
      <translation>{n} valeurs commune-trimestre comptaient plus de locaux raccordables que de locaux et ont été plafonnées à 100 % (les deux décomptes proviennent d'années différentes).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/arcep.py" line="478" />
      <source>{n} communes have more than {pct} % of their premises connectable (e.g. {nom} {code}, {q}: {num} connectable for {den} premises): the premises file does not match the FttH file. Check that the premises are Logements + Établissements of the same communes.</source>
      <translation>{n} communes ont plus de {pct} % de leurs locaux raccordables (p. ex. {nom} {code}, {q} : {num} raccordables pour {den} locaux) : le fichier des locaux ne correspond pas au fichier FttH. Vérifiez que les locaux sont les Logements + Établissements des mêmes communes.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/__init__.py" line="76" />
      <source>{n} features in PostGIS</source>
      <translation>{n} entités dans PostGIS</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/report.py" line="108" />
      <source>{n} object(s) found by {model} on {km2} km² ({tiles} tiles, {px} Mpx).</source>
      <translation>{n} objet(s) trouvé(s) par {model} sur {km2} km² ({tiles} tuiles, {px} Mpx).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/client.py" line="345" />
      <source>{n} object(s) lying wholly outside the imagery, extent or mask were dropped.</source>
      <translation>Objets situés entièrement hors de l'imagerie, de l'emprise ou du masque écartés : {n}.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/inference/runner.py" line="218" />
      <source>{n} segmented region(s) wider or taller than {m} were cut along a grid of {m} squares, so that each part stays workable in QGIS; dissolve the layer by class to join them again.</source>
      <translation>{n} région(s) segmentée(s) de plus de {m} de large ou de haut ont été découpée(s) selon une grille de carrés de {m}, pour que chaque partie reste maniable dans QGIS ; regroupez la couche par classe (Regrouper) pour les réunir.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="398" />
      <source>{n} zones not analysed at all</source>
      <translation>{n} zones pas du tout analysées</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/sharing/browse.py" line="53" />
      <source>{partner} — {kind} — {model} — {when} — {n} objects</source>
      <translation>{partner} — {kind} — {model} — {when} — {n} objets</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/offline_kit.py" line="141" />
      <source>{path} already exists: choose a new folder name for the kit (nothing was overwritten).</source>
      <translation>{path} existe déjà : choisissez un nouveau nom de dossier pour le kit (rien n'a été écrasé).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/gpkgio.py" line="250" />
      <source>{path} could not be opened as a vector dataset.</source>
      <translation>{path} n'a pas pu être ouvert en tant que jeu de données vecteur.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/stac_folder.py" line="112" />
      <source>{path} exists but is not a STAC catalog; choose another folder.</source>
      <translation>{path} existe mais n'est pas un catalogue STAC ; choisissez un autre dossier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/stac_folder.py" line="106" />
      <source>{path} exists but is not a readable STAC catalog ({err}); choose another folder.</source>
      <translation>{path} existe mais n'est pas un catalogue STAC lisible ({err}) ; choisissez un autre dossier.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="357" />
      <source>{portal} did not send a GeoJSON FeatureCollection for the dataset {id}. Try again later or check the portal address.</source>
      <translation>{portal} n'a pas renvoyé de FeatureCollection GeoJSON pour le jeu de données {id}. Réessayez plus tard ou vérifiez l'adresse du portail.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="283" />
      <source>{portal} refused the query on {id}: {message}</source>
      <translation>{portal} a refusé la requête sur {id} : {message}</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/ods.py" line="338" />
      <source>{portal} refused the query on {id}: {message} Check the where clause (ODSQL syntax, field names of the dataset, quotes around text values).</source>
      <translation>{portal} a refusé la requête sur {id} : {message} Vérifiez la clause where (syntaxe ODSQL, noms des champs du jeu de données, guillemets autour des valeurs texte).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/distributed/estimate.py" line="51" />
      <source>{tiles} tiles of {ts} px ({mpx} Mpx) over {km2} km² ({skip} tiles outside the mask).</source>
      <translation>{tiles} dalles de {ts} px ({mpx} Mpx) sur {km2} km² ({skip} dalles hors du masque).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/cached_http.py" line="270" />
      <source>{url} changed on the server while it was being read. Run the operation again to read the new version.</source>
      <translation>{url} a été modifié sur le serveur pendant sa lecture. Relancez l'opération pour lire la nouvelle version.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_api.py" line="55" />
      <source>{url} did not answer with a STAC API landing page. Check the source URL.</source>
      <translation>{url} n'a pas répondu par une page d'accueil d'API STAC. Vérifiez l'URL de la source.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/catalog/stac_static.py" line="136" />
      <source>{url} is not a STAC document.</source>
      <translation>{url} n'est pas un document STAC.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/cached_http.py" line="249" />
      <source>{url} is not in the local cache and IdF HR is working offline. Reconnect (or turn offline mode off) and view or download this imagery once to use it offline.</source>
      <translation>{url} n'est pas dans le cache local et IdF HR fonctionne hors ligne. Reconnectez-vous (ou désactivez le mode hors ligne) et affichez ou téléchargez cette imagerie une première fois pour pouvoir l'utiliser hors ligne.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/proxy.py" line="194" />
      <source>{url} is not under one of the imagery sources configured in IdF HR, so it is not read through the local cache. Add its source in the settings first.</source>
      <translation>{url} ne relève d'aucune des sources d'imagerie configurées dans IdF HR : elle n'est donc pas lue via le cache local. Ajoutez d'abord sa source dans les paramètres.</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/tiles/proxy.py" line="213" />
      <source>{url} needs the QGIS authentication configuration {id}, which only QGIS can apply. Open it in QGIS, or give the credentials in the address (https://user:password@host/...).</source>
      <translation>{url} nécessite la configuration d'authentification QGIS {id}, que seul QGIS peut appliquer. Ouvrez-la dans QGIS, ou indiquez les identifiants dans l'adresse (https://user:password@host/...).</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/opendata/tabular.py" line="176" />
      <source>{what} (looked for: {aliases})</source>
      <translation>{what} (noms recherchés : {aliases})</translation>
    </message>
    <message>
      <location filename="../idf_hr_plugin/core/analysis/workflow.py" line="390" />
      <source>{zone}: {n} objects, analysed at {pct} %</source>
      <translation>{zone} : {n} objets, analysé à {pct} %</translation>
    </message>
  </context>
</TS>
