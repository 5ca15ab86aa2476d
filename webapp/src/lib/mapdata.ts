import raw from '../data/guatemala-departments.geojson?raw'
import { projectMap, type FeatureCollection, type ProjectedMap } from './geo'

// The 22 department outlines (Natural Earth 1:10m admin-1, public domain,
// simplified; see src/data/README.md), projected once when the bundle loads.
export const GUATEMALA: ProjectedMap = projectMap(JSON.parse(raw) as FeatureCollection)
