// A minimal projection for one small country: equirectangular with the
// longitudes scaled by cos(latitude of the centre), which keeps shapes
// right at Guatemala's size (13.7-17.8°N), fitted to a viewBox. Winding
// order does not matter to an SVG path filled with the nonzero rule, so the
// RFC 7946 counter-clockwise rings are used as they are.

type Position = number[]
type Ring = Position[]

export interface Geometry {
  type: string
  coordinates: unknown
}

export interface Feature {
  id?: string | number
  properties: Record<string, unknown> | null
  geometry: Geometry | null
}

export interface FeatureCollection {
  type: string
  features: Feature[]
}

export interface MapShape {
  code: string
  name: string
  d: string
}

export interface ProjectedMap {
  width: number
  height: number
  shapes: MapShape[]
}

function polygons(g: Geometry | null): Ring[][] {
  if (!g) return []
  if (g.type === 'Polygon') return [g.coordinates as Ring[]]
  if (g.type === 'MultiPolygon') return g.coordinates as Ring[][]
  return []
}

/** projectMap projects a collection into a viewBox `width` wide, with `pad` around. */
export function projectMap(fc: FeatureCollection, width = 600, pad = 4): ProjectedMap {
  let minLon = Infinity
  let maxLon = -Infinity
  let minLat = Infinity
  let maxLat = -Infinity
  for (const f of fc.features) {
    for (const poly of polygons(f.geometry)) {
      for (const ring of poly) {
        for (const [lon, lat] of ring) {
          if (lon < minLon) minLon = lon
          if (lon > maxLon) maxLon = lon
          if (lat < minLat) minLat = lat
          if (lat > maxLat) maxLat = lat
        }
      }
    }
  }
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180)
  const spanX = (maxLon - minLon) * k
  const spanY = maxLat - minLat
  const scale = (width - 2 * pad) / spanX
  const height = Math.ceil(spanY * scale + 2 * pad)
  const px = (lon: number) => ((lon - minLon) * k * scale + pad).toFixed(1)
  const py = (lat: number) => ((maxLat - lat) * scale + pad).toFixed(1)

  const shapes = fc.features.map((f) => {
    const props = f.properties ?? {}
    const code = String(props.code ?? f.id ?? '')
    const name = String(props.name ?? code)
    const parts: string[] = []
    for (const poly of polygons(f.geometry)) {
      for (const ring of poly) {
        if (ring.length < 3) continue
        parts.push('M' + ring.map(([lon, lat]) => px(lon) + ',' + py(lat)).join('L') + 'Z')
      }
    }
    return { code, name, d: parts.join('') }
  })
  return { width, height, shapes }
}
