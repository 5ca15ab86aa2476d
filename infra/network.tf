# One VPC: GKE nodes (private), the Cloud Run Direct VPC egress subnet and the Memorystore PSC subnet.
# Nothing gets a public address; private nodes reach the internet (image pulls for Linkerd) via NAT.
resource "google_compute_network" "vpc" {
  name                    = "vacunometro"
  auto_create_subnetworks = false

  depends_on = [google_project_service.apis]
}

resource "google_compute_subnetwork" "gke" {
  name                     = "vacunometro-gke"
  region                   = var.region
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = var.gke_subnet_cidr
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.gke_pods_cidr
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.gke_services_cidr
  }
}

resource "google_compute_subnetwork" "run" {
  name                     = "vacunometro-run-egress"
  region                   = var.region
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = var.run_subnet_cidr
  private_ip_google_access = true
}

resource "google_compute_subnetwork" "psc" {
  name          = "vacunometro-psc"
  region        = var.region
  network       = google_compute_network.vpc.id
  ip_cidr_range = var.psc_subnet_cidr
}

resource "google_compute_router" "nat" {
  name    = "vacunometro-nat"
  region  = var.region
  network = google_compute_network.vpc.id
}

resource "google_compute_router_nat" "nat" {
  name                               = "vacunometro-nat"
  router                             = google_compute_router.nat.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.gke.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# Linkerd's admission webhooks (proxy injector 8443, service-profile validator 8089, policy validator
# 9443) are called by the private cluster's control plane, which by default may only reach 443/10250.
resource "google_compute_firewall" "linkerd_webhooks" {
  name          = "vacunometro-gke-master-to-linkerd-webhooks"
  network       = google_compute_network.vpc.id
  direction     = "INGRESS"
  source_ranges = [var.gke_master_cidr]
  target_tags   = ["vacunometro-gke"]

  allow {
    protocol = "tcp"
    ports    = ["8443", "8089", "9443"]
  }
}

# The internal address of the gRPC server's internal passthrough load balancer. The Service
# grpc-server-ilb (cluster/overlays/prod) claims it by name; Cloud Run's ingest dials it.
resource "google_compute_address" "grpc_ilb" {
  name         = "vacunometro-grpc-ilb"
  region       = var.region
  subnetwork   = google_compute_subnetwork.gke.id
  address_type = "INTERNAL"
  purpose      = "SHARED_LOADBALANCER_VIP"
}

# Lets Memorystore create its Private Service Connect endpoints in this VPC.
resource "google_network_connectivity_service_connection_policy" "memorystore" {
  name          = "vacunometro-memorystore"
  location      = var.region
  service_class = "gcp-memorystore"
  network       = google_compute_network.vpc.id
  description   = "PSC endpoints for the vacunometro Valkey instance"

  psc_config {
    subnetworks = [google_compute_subnetwork.psc.id]
  }

  depends_on = [google_project_service.apis]
}
