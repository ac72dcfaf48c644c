import Foundation

/// Along one side: a statistics tile at ``origin`` and the tile features ``first`` until
/// ``end`` it contributes.
public struct FeatureSpan: Equatable {
    public let origin: Int
    public let first: Int
    public let end: Int
}

/// One tile of the statistics pass, in run order: ``rows`` and ``cols`` are its spans.
public struct StatisticsTile: Equatable {
    public let index: Int
    public let rows: FeatureSpan
    public let cols: FeatureSpan
    public var top: Int { rows.origin }
    public var left: Int { cols.origin }
}

/// A split by tiles' statistics (toolkit/fullres.py `statistics_pass`): the features artifact
/// over the photo by tiles (zeros past the photo), each photo feature taken once from a tile
/// holding its receptive field, averaged (float64 sums in run order) into one vector.
public enum StatisticsPass {
    /// The spans along a side of `length` (toolkit/fullres.py `_feature_spans`).
    public static func spans(_ length: Int, tile: Int, stride: Int, before: Int, after: Int, step: Int) throws -> [FeatureSpan] {
        try ensure(step > 0 && stride > 0, "statistics step \(step) and stride \(stride) must be positive")
        let count = (length + stride - 1) / stride
        var origins = Array(Swift.stride(from: 0, to: max(1, length - tile + 1), by: step))
        let last = (max(0, length - tile) + stride - 1) / stride * stride
        if origins.last! < last { origins.append(last) }
        let n = tile / stride
        var spans: [FeatureSpan] = []
        var done = 0
        for y0 in origins {
            let first = y0 == 0 ? 0 : (before + stride - 1) / stride
            let end = y0 + tile >= length ? n : (tile - 1 - after) / stride + 1
            let lo = y0 / stride + first
            let hi = min(count, y0 / stride + end)
            try ensure(lo <= done, "statistics tiles leave features \(done)..\(lo - 1) uncovered (step \(step), tile \(tile)); report it")
            if hi > done {
                spans.append(FeatureSpan(origin: y0, first: done - y0 / stride, end: hi - y0 / stride))
                done = hi
            }
        }
        try ensure(done >= count, "statistics tiles cover \(done) of \(count) features; report it")
        return spans
    }

    /// The statistics tiles of a `height` x `width` photo, row by row.
    public static func tiles(_ height: Int, _ width: Int, _ entry: StatisticsEntry) throws -> [StatisticsTile] {
        let rows = try spans(height, tile: entry.tileH, stride: entry.stride, before: entry.before, after: entry.after, step: entry.stepH)
        let cols = try spans(width, tile: entry.tileW, stride: entry.stride, before: entry.before, after: entry.after, step: entry.stepW)
        var out: [StatisticsTile] = []
        for r in rows {
            for c in cols { out.append(StatisticsTile(index: out.count, rows: r, cols: c)) }
        }
        return out
    }

    /// The `entry.tileH` x `entry.tileW` crop of `photo` at `tile`, zeros past the photo.
    public static func crop(_ photo: Image, _ tile: StatisticsTile, _ entry: StatisticsEntry, channels: Int = 3) throws -> FloatImage {
        let (th, tw) = (entry.tileH, entry.tileW)
        var data = [Float](repeating: 0, count: th * tw * channels)
        for y in 0..<max(0, min(th, photo.height - tile.top)) {
            for x in 0..<max(0, min(tw, photo.width - tile.left)) {
                for c in 0..<channels {
                    data[(y * tw + x) * channels + c] = Float(photo.channel(tile.top + y, tile.left + x, c)) / 255
                }
            }
        }
        return try FloatImage(height: th, width: tw, channels: channels, data: data)
    }

    /// The features artifact's io: the plan's, else NHWC float32 tensors named by the plan.
    public static func featuresIo(_ entry: StatisticsEntry, channels: Int = 3) -> (inputs: [TensorIo], output: TensorIo) {
        let inputs = entry.artifactInputs ?? entry.inputs.map {
            TensorIo(name: $0, shape: [1, entry.tileH, entry.tileW, channels], dtype: "float32", quantization: nil,
                     layout: "nhwc", valueRange: [0.0, 1.0], colorSpace: "srgb", role: "image", of: nil)
        }
        let output = entry.artifactOutputs?.first
            ?? TensorIo(name: entry.output, shape: [1, -1, -1, -1], dtype: "float32", quantization: nil, layout: "nhwc",
                        valueRange: nil, colorSpace: nil, role: "features", of: nil)
        return (inputs, output)
    }

    /// The photo's statistics vector: `features` (the features artifact) over `photo`;
    /// `onTile` (done, total) reports progress.
    public static func run(_ photo: Image, _ entry: StatisticsEntry, _ features: ModelRunner,
                           onTile: ((Int, Int) -> Void)? = nil) async throws -> [Float] {
        let (inputs, output) = featuresIo(entry)
        let tiles = try StatisticsPass.tiles(photo.height, photo.width, entry)
        var total: [Double] = []
        var count = 0
        for tile in tiles {
            var feeds: [String: Tensor] = [:]
            for io in inputs { feeds[io.name] = try Packing.packFloats(crop(photo, tile, entry, channels: io.channels), io) }
            let outs = try await features.run(feeds)
            guard let result = outs[output.name] else {
                throw CamkitError("the features artifact returned no '\(output.name)' (it returned \(outs.keys.sorted().joined(separator: ", ")))")
            }
            let f = try Packing.unpackFloats(result, output)
            if total.isEmpty { total = [Double](repeating: 0, count: f.channels) }
            let (r, c) = (tile.rows, tile.cols)
            try ensure(r.end <= f.height && c.end <= f.width,
                       "the features artifact returned \(f.height)x\(f.width) features; the plan reads up to \(r.end)x\(c.end)")
            var part = [Double](repeating: 0, count: f.channels)
            for y in r.first..<r.end {
                for x in c.first..<c.end {
                    for ch in 0..<f.channels { part[ch] += Double(f.data[(y * f.width + x) * f.channels + ch]) }
                }
            }
            for ch in part.indices { total[ch] += part[ch] }
            count += (r.end - r.first) * (c.end - c.first)
            onTile?(tile.index + 1, tiles.count)
        }
        return total.map { Float($0 / Double(count)) }
    }
}
