# One identity per tier, each with only what it uses.
#   ingest (Cloud Run)     publish to the topic; read ADMIN_TOKEN and REDIS_URL
#   realtime (Cloud Run)   read REDIS_URL
#   GKE workloads          Workload Identity Federation principals (namespace vacunometro), no keys:
#     ingest-*             publish to the topic
#     worker-pubsub        consume the subscription
#   GKE nodes              write logs and metrics, pull images
#   deployer (Cloud Build) push images, deploy Cloud Run revisions and move traffic, apply to GKE

resource "google_service_account" "ingest" {
  account_id   = "vacunometro-ingest"
  display_name = "vacunometro ingest (Cloud Run)"
}

resource "google_service_account" "realtime" {
  account_id   = "vacunometro-realtime"
  display_name = "vacunometro realtime (Cloud Run)"
}

resource "google_service_account" "gke_nodes" {
  account_id   = "vacunometro-gke-nodes"
  display_name = "vacunometro GKE nodes"
}

resource "google_service_account" "deployer" {
  account_id   = "vacunometro-deployer"
  display_name = "vacunometro Cloud Build deployer"
}

locals {
  wif_prefix = "principal://iam.googleapis.com/projects/${data.google_project.this.number}/locations/global/workloadIdentityPools/${var.project_id}.svc.id.goog/subject/ns/vacunometro/sa"

  node_roles = [
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
  ]

  deployer_roles = [
    "roles/run.developer",
    "roles/container.developer",
    "roles/logging.logWriter",
    # read Managed Prometheus (the Prometheus HTTP API): the GKE release judges its canary by it
    "roles/monitoring.viewer",
  ]
}

# --- Cloud Run tiers

resource "google_pubsub_topic_iam_member" "ingest_publisher" {
  topic  = google_pubsub_topic.records.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.ingest.member
}

resource "google_pubsub_topic_iam_member" "ingest_viewer" {
  topic  = google_pubsub_topic.records.id
  role   = "roles/pubsub.viewer"
  member = google_service_account.ingest.member
}

resource "google_secret_manager_secret_iam_member" "ingest_admin_token" {
  secret_id = google_secret_manager_secret.admin_token.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.ingest.member
}

resource "google_secret_manager_secret_iam_member" "ingest_redis_url" {
  secret_id = google_secret_manager_secret.redis_url.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.ingest.member
}

resource "google_secret_manager_secret_iam_member" "realtime_redis_url" {
  secret_id = google_secret_manager_secret.redis_url.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.realtime.member
}

# The Managed Service for Prometheus sidecar writes each tier's metrics to Cloud Monitoring.
resource "google_project_iam_member" "run_metric_writer" {
  for_each = {
    ingest   = google_service_account.ingest.member
    realtime = google_service_account.realtime.member
  }

  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = each.value
}

# --- GKE workloads (Workload Identity Federation for GKE, direct principals)

resource "google_pubsub_topic_iam_member" "gke_ingest_publisher" {
  topic  = google_pubsub_topic.records.id
  role   = "roles/pubsub.publisher"
  member = "${local.wif_prefix}/ingest"
}

resource "google_pubsub_subscription_iam_member" "gke_worker_subscriber" {
  subscription = google_pubsub_subscription.sink.id
  role         = "roles/pubsub.subscriber"
  member       = "${local.wif_prefix}/worker-pubsub"
}

# The worker moves poison messages (undecodable, or records the catalog refuses) to the dead-letter
# topic itself, instead of acking them away (internal/route/pubsubroute).
resource "google_pubsub_topic_iam_member" "gke_worker_dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = "${local.wif_prefix}/worker-pubsub"
}

resource "google_pubsub_subscription_iam_member" "gke_worker_viewer" {
  subscription = google_pubsub_subscription.sink.id
  role         = "roles/pubsub.viewer"
  member       = "${local.wif_prefix}/worker-pubsub"
}

# --- GKE nodes

resource "google_project_iam_member" "gke_nodes" {
  for_each = toset(local.node_roles)

  project = var.project_id
  role    = each.value
  member  = google_service_account.gke_nodes.member
}

resource "google_artifact_registry_repository_iam_member" "gke_nodes_reader" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.gke_nodes.member
}

# --- Cloud Build deployer

resource "google_project_iam_member" "deployer" {
  for_each = toset(local.deployer_roles)

  project = var.project_id
  role    = each.value
  member  = google_service_account.deployer.member
}

resource "google_artifact_registry_repository_iam_member" "deployer_writer" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.deployer.member
}

# Reads the uploaded source and writes the build logs of `gcloud builds submit --service-account
# ... --gcs-log-dir=gs://PROJECT_cloudbuild/logs` (a chosen build account cannot use the default
# logs bucket): objects of this one bucket only, no bucket administration.
resource "google_storage_bucket_iam_member" "deployer_source" {
  bucket = google_storage_bucket.cloudbuild_source.name
  role   = "roles/storage.objectUser"
  member = google_service_account.deployer.member
}

# gcloud run deploy --service-account=... needs actAs on the runtime identities, and nothing more.
resource "google_service_account_iam_member" "deployer_acts_as_ingest" {
  service_account_id = google_service_account.ingest.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}

resource "google_service_account_iam_member" "deployer_acts_as_realtime" {
  service_account_id = google_service_account.realtime.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}

# The smoke test and Locust steps read the producer key they post with (availableSecrets in
# cloudbuild.yaml): this one secret only.
resource "google_secret_manager_secret_iam_member" "deployer_producer_key" {
  secret_id = google_secret_manager_secret.producer_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.deployer.member
}
