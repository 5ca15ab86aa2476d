variable "project_id" {
  description = "Google Cloud project id (an empty project with billing enabled)."
  type        = string
}

variable "region" {
  description = "Region for Cloud Run, Artifact Registry, Memorystore, the subnets and Cloud Build."
  type        = string
  default     = "us-central1"
}

variable "cluster_location" {
  description = "Zone (zonal cluster, cheaper) or region (regional cluster) of the GKE cluster."
  type        = string
  default     = "us-central1-a"
}

variable "image" {
  description = "The first image Cloud Run runs, as pushed by `gcloud builds submit --tag` (a tag or digest, never :latest). After creation Cloud Build owns the image (lifecycle ignore_changes)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", var.image)) && !endswith(var.image, ":latest")
    error_message = "The image must name a tag or a digest, and the tag must not be latest."
  }
}

variable "ingest_split" {
  description = "SPLIT of the first ingest revision (route=weight,...). Later revisions set it through Cloud Build (_SPLIT)."
  type        = string
  default     = "grpc=34,redis=33,pubsub=33"
}

variable "mongodb_database" {
  description = "MongoDB database name (MONGODB_DATABASE)."
  type        = string
  default     = "vacunometro"
}

variable "log_level" {
  description = "LOG_LEVEL for the Cloud Run services."
  type        = string
  default     = "info"
}

variable "domain" {
  description = "Custom domain for the dashboard (the realtime service), e.g. vacunometro.example.org. Empty: no domain mapping."
  type        = string
  default     = ""
}

variable "gke_subnet_cidr" {
  description = "Primary range of the GKE nodes' subnet."
  type        = string
  default     = "10.10.0.0/20"
}

variable "gke_pods_cidr" {
  description = "Secondary range for GKE pods."
  type        = string
  default     = "10.64.0.0/14"
}

variable "gke_services_cidr" {
  description = "Secondary range for GKE services."
  type        = string
  default     = "10.68.0.0/20"
}

variable "gke_master_cidr" {
  description = "/28 for the GKE control plane of the private cluster."
  type        = string
  default     = "172.16.0.0/28"
}

variable "run_subnet_cidr" {
  description = "Subnet for Cloud Run Direct VPC egress (ingest and realtime reach Memorystore and the gRPC server through it). Size it for about 4 addresses per instance of every service on it (2 per instance in steady state, twice that while revisions are replaced, reserved in blocks of 16: https://cloud.google.com/run/docs/configuring/vpc-direct-vpc#direct-vpc-ip-allocation); deploy/check fails a range too small for the max instance counts. cluster/overlays/prod/grpc-server-ilb.yaml allows it; the deploy/check tests keep both equal."
  type        = string
  default     = "10.20.0.0/24"
}

variable "psc_subnet_cidr" {
  description = "Subnet where Memorystore's Private Service Connect endpoints get their addresses."
  type        = string
  default     = "10.30.0.0/28"
}

variable "master_authorized_networks" {
  description = "CIDR blocks allowed to reach the GKE control plane (e.g. your office or Cloud Shell egress). Empty: only Google Cloud internal sources."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  default = []
}

variable "node_machine_type" {
  description = "Machine type of the GKE node pool."
  type        = string
  default     = "e2-standard-4"
}

variable "node_count_max" {
  description = "Upper bound of the node pool autoscaler (per zone)."
  type        = number
  default     = 4
}

variable "redis_node_type" {
  description = "Memorystore for Valkey node type. SHARED_CORE_NANO is cheaper but has no SLA (development only)."
  type        = string
  default     = "STANDARD_SMALL"
}

variable "ingest_min_instances" {
  description = "Service-level minimum of warm ingest instances, shared by the revisions that serve traffic (not one set per revision)."
  type        = number
  default     = 0
}

variable "realtime_min_instances" {
  description = "Service-level minimum of warm realtime instances (WebSocket), shared by the revisions that serve traffic."
  type        = number
  default     = 1
}

variable "ingest_max_instances" {
  description = "Cloud Run max instances for ingest."
  type        = number
  default     = 20
}

variable "realtime_max_instances" {
  description = "Cloud Run max instances for realtime (WebSocket)."
  type        = number
  default     = 10
}

variable "deletion_protection" {
  description = "Protect the GKE cluster, Memorystore and the Cloud Run services from terraform destroy."
  type        = bool
  default     = true
}

variable "gmp_sidecar_image" {
  description = "The Managed Service for Prometheus collector that runs next to each Cloud Run instance (tagged, never latest): https://cloud.google.com/run/docs/monitoring-managed-prometheus-sidecar"
  type        = string
  default     = "us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:1.2.0"
}
