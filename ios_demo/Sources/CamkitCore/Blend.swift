import Foundation

/// Tile outputs blended as toolkit/fullres.py `run_tiled` blends them: per tile the weight
/// ramp_y[y] * ramp_x[x] (float64 product, float32 weight), sums of weight * output and of
/// weights in float32 over the padded frame, output = sum / weight, cropped to the photo.
/// Memory: one band of the tile height across the padded width; rows go to `emit` (in order,
/// HWC float32, the photo's width) as soon as no later tile reaches them.
enum Blend {
    static func runTiled(
        _ height: Int, _ width: Int, _ plan: TilePlan,
        run: (TileOrigin, Int) async throws -> FloatImage,
        emit: (Int, [Float]) throws -> Void
    ) async throws {
        let (_, pw) = Tiling.paddedSize(height, width, plan)
        let th = plan.tileH
        let tw = plan.tileW
        let tiles = try Tiling.grid(height, width, plan)
        var band = Band(weight: [Float](repeating: 0, count: th * pw), acc: [], channels: 0, pw: pw, th: th)
        var bandTop = 0
        for (index, tile) in tiles.enumerated() {
            if band.channels > 0 && tile.top > bandTop {
                try band.flush(width: width, top: bandTop, rows: min(tile.top, height) - bandTop, emit: emit)
                band.shift(tile.top - bandTop)
                bandTop = tile.top
            }
            let out = try await run(tile, index)
            try ensure(out.height == th && out.width == tw,
                       "the model returned \(out.height)x\(out.width) for a \(th)x\(tw) tile; tiling needs same-size outputs")
            if band.channels == 0 {
                band.channels = out.channels
                band.acc = [Float](repeating: 0, count: th * pw * out.channels)
            }
            try ensure(out.channels == band.channels, "the model returned \(out.channels) channels, then \(band.channels)")
            band.add(plan, tile, out)
        }
        try band.flush(width: width, top: bandTop, rows: min(height - bandTop, th), emit: emit)
    }

    /// Float32 sums of weight * output (``acc``, HWC) and of weights over `th` rows of the
    /// padded width `pw`.
    private struct Band {
        var weight: [Float]
        var acc: [Float]
        var channels: Int
        let pw: Int
        let th: Int

        mutating func add(_ plan: TilePlan, _ tile: TileOrigin, _ out: FloatImage) {
            let wy = Tiling.ramp(plan.tileH, lead: tile.leadY, trail: tile.trailY, margin: plan.margin, blend: plan.blend)
            let wx = Tiling.ramp(plan.tileW, lead: tile.leadX, trail: tile.trailX, margin: plan.margin, blend: plan.blend)
            let c = channels
            for y in 0..<plan.tileH {
                for x in 0..<plan.tileW {
                    let w = Float(wy[y] * wx[x])
                    let at = y * pw + tile.left + x
                    weight[at] += w
                    let src = (y * plan.tileW + x) * c
                    for ch in 0..<c { acc[at * c + ch] += out.data[src + ch] * w }
                }
            }
        }

        func flush(width: Int, top: Int, rows: Int, emit: (Int, [Float]) throws -> Void) throws {
            let c = channels
            for r in 0..<max(rows, 0) {
                var row = [Float](repeating: 0, count: width * c)
                for x in 0..<width {
                    let w = weight[r * pw + x]
                    try ensure(w > 0, "tile weights left pixel (\(top + r), \(x)) uncovered; report this plan as a bug")
                    for ch in 0..<c { row[x * c + ch] = acc[(r * pw + x) * c + ch] / w }
                }
                try emit(top + r, row)
            }
        }

        /// Drops the first `shift` rows (finished) and zeroes the rows that come free.
        mutating func shift(_ shift: Int) {
            let keep = max(0, th - shift)
            let c = channels
            for i in 0..<keep * pw { weight[i] = weight[shift * pw + i] }
            for i in keep * pw..<th * pw { weight[i] = 0 }
            for i in 0..<keep * pw * c { acc[i] = acc[shift * pw * c + i] }
            for i in keep * pw * c..<th * pw * c { acc[i] = 0 }
        }
    }
}
