output "ingest_url" {
  description = "Cloud Run URL of the ingest (POST records here; Locust --host)."
  value       = google_cloud_run_v2_service.ingest.uri
}

output "realtime_url" {
  description = "Cloud Run URL of the dashboard, /ws and /api/stats."
  value       = google_cloud_run_v2_service.realtime.uri
}

output "image_repository" {
  description = "Artifact Registry path for images: <this>/vacunometro:<tag>."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "cluster_name" {
  value = google_container_cluster.main.name
}

output "cluster_location" {
  value = google_container_cluster.main.location
}

output "grpc_ilb_address" {
  description = "Internal address of the gRPC server's load balancer (GRPC_SERVER_ADDRESS of ingest)."
  value       = google_compute_address.grpc_ilb.address
}

output "deployer_service_account" {
  description = "Service account for gcloud builds submit --service-account."
  value       = google_service_account.deployer.id
}

output "cluster_project_env" {
  description = "Contents of cluster/overlays/prod/project.env."
  value       = "PUBSUB_PROJECT=${var.project_id}\n"
}

output "domain_dns_records" {
  description = "DNS records to create for the custom domain (empty without var.domain)."
  value       = var.domain == "" ? [] : google_cloud_run_domain_mapping.dashboard[0].status[0].resource_records
}
