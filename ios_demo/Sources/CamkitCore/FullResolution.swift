import Foundation

/// A photo of any size through a fixed-size artifact by its manifest's `full_resolution` plan
/// (toolkit/fullres.py `apply_plan`): "tiles" and "split" (tiles of the artifact's size,
/// reflected past the photo, blended; a split's thumbnails made once per photo, or its
/// statistics vector from the features artifact over the photo, fed with every tile), "whole"
/// (a dynamic artifact: the photo reflected up to the size multiple), "resize" (lossy).
/// The app feeds photos: an artifact that takes a mask is refused.
public struct FullResolution {
    public static let strategies = ["tiles", "split", "whole", "resize"]
    public static let roles = ["image", "thumbnail", "statistics"]

    public let plan: FullResolutionPlan
    public let inputs: [TensorIo]
    public let outputs: [TensorIo]
    /// The output shown: the first with role "image", else the first.
    public let output: TensorIo

    /// The plan of `manifest`.
    public init(_ manifest: Manifest) throws {
        guard let plan = manifest.fullResolution else {
            throw CamkitError("\(manifest.file.lastPathComponent) has no full_resolution plan; re-export it with camkit")
        }
        try self.init(plan: plan, inputs: manifest.inputs, outputs: manifest.outputs)
    }

    /// `plan` for an artifact with `inputs` and `outputs`.
    public init(plan: FullResolutionPlan, inputs: [TensorIo], outputs: [TensorIo]) throws {
        try ensure(plan.version == FullResolutionPlan.supportedVersion,
                   "full_resolution plan version \(plan.version) is not one this app reads (\(FullResolutionPlan.supportedVersion)); update the app or re-export")
        try ensure(FullResolution.strategies.contains(plan.strategy),
                   "full_resolution strategy '\(plan.strategy)' is not one this app runs (\(FullResolution.strategies.joined(separator: ", "))); update the app")
        for io in inputs {
            try ensure(FullResolution.roles.contains(io.role),
                       "input '\(io.name)' has role '\(io.role)'; the app feeds photos (\(FullResolution.roles.joined(separator: ", "))), not masks")
        }
        try ensure(inputs.contains { $0.role == "image" }, "the artifact takes no image input; the app has nothing to feed")
        guard let first = outputs.first else { throw CamkitError("the artifact has no outputs") }
        self.plan = plan
        self.inputs = inputs
        self.outputs = outputs
        self.output = outputs.first { $0.role == "image" } ?? first
    }

    /// `photo` through `runner` (and `features`, a split by tiles' features artifact), as
    /// pixels; `onTile` (done, total) reports progress.
    public func process(_ photo: Image, runner: ModelRunner, features: ModelRunner? = nil,
                        onTile: ((Int, Int) -> Void)? = nil) async throws -> Image {
        var rgba = [UInt8](repeating: 255, count: photo.width * photo.height * 4)
        try await processRows(photo, runner: runner, features: features, onTile: onTile) { y, row in
            let c = row.count / photo.width
            for x in 0..<photo.width {
                let r = Packing.toByte(row[x * c])
                let at = (y * photo.width + x) * 4
                rgba[at] = r
                rgba[at + 1] = c >= 3 ? Packing.toByte(row[x * c + 1]) : r
                rgba[at + 2] = c >= 3 ? Packing.toByte(row[x * c + 2]) : r
            }
        }
        return try Image(width: photo.width, height: photo.height, rgba: rgba)
    }

    /// As ``process(_:runner:features:onTile:)``, handing each finished row (HWC float32, the
    /// photo's width, not clamped) to `emit` in order instead of making pixels.
    public func processRows(_ photo: Image, runner: ModelRunner, features: ModelRunner? = nil,
                            onTile: ((Int, Int) -> Void)? = nil, emit: (Int, [Float]) throws -> Void) async throws {
        switch plan.strategy {
        case "tiles", "split":
            try await tiled(photo, runner, features, onTile, emit)
        case "whole":
            try await whole(photo, runner, emit)
            onTile?(1, 1)
        default:
            try await resized(photo, runner, emit)
            onTile?(1, 1)
        }
    }

    private func tiled(_ photo: Image, _ runner: ModelRunner, _ features: ModelRunner?,
                       _ onTile: ((Int, Int) -> Void)?, _ emit: (Int, [Float]) throws -> Void) async throws {
        let tiles = plan.tiles!
        let grid = try Tiling.grid(photo.height, photo.width, tiles).count
        var statTiles = 0
        if inputs.contains(where: { $0.role == "statistics" }), let entry = plan.statistics {
            statTiles = try StatisticsPass.tiles(photo.height, photo.width, entry).count
        }
        let total = statTiles + grid
        let extras = try await extraInputs(photo, features) { done, _ in onTile?(done, total) }
        let images = inputs.filter { $0.role == "image" }
        try await Blend.runTiled(photo.height, photo.width, tiles, run: { tile, index in
            var feeds = extras
            for io in images {
                feeds[io.name] = try Packing.packFloats(
                    Tiling.cropReflected(photo, top: tile.top, left: tile.left, height: tiles.tileH, width: tiles.tileW,
                                         channels: io.channels), io)
            }
            let out = try await runOnce(runner, feeds)
            onTile?(statTiles + index + 1, total)
            return out
        }, emit: emit)
    }

    /// Thumbnails and the statistics vector, packed once per photo.
    private func extraInputs(_ photo: Image, _ features: ModelRunner?,
                             _ onTile: @escaping (Int, Int) -> Void) async throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for io in inputs {
            switch io.role {
            case "thumbnail":
                guard let entry = plan.thumbnails.first(where: { $0.input == io.name }) else {
                    throw CamkitError("the plan has no thumbnail entry for input '\(io.name)'; re-export")
                }
                out[io.name] = try Packing.packFloats(Thumbnails.make(photo, entry, channels: io.channels), io)
            case "statistics":
                guard let entry = plan.statistics else {
                    throw CamkitError("input '\(io.name)' takes statistics but the plan has no statistics block; re-export")
                }
                guard let features else {
                    throw CamkitError("input '\(io.name)' takes the photo's statistics: load the features artifact too")
                }
                let vector = try await StatisticsPass.run(photo, entry, features, onTile: onTile)
                out[io.name] = try Packing.packFloats(FloatImage(height: 1, width: 1, channels: vector.count, data: vector), io)
            default:
                break
            }
        }
        return out
    }

    private func whole(_ photo: Image, _ runner: ModelRunner, _ emit: (Int, [Float]) throws -> Void) async throws {
        let m = plan.sizeMultiple ?? 1
        let (ph, pw) = ((photo.height + m - 1) / m * m, (photo.width + m - 1) / m * m)
        var feeds: [String: Tensor] = [:]
        for io in inputs {
            feeds[io.name] = try Packing.packFloats(
                Tiling.cropReflected(photo, top: 0, left: 0, height: ph, width: pw, channels: io.channels), io)
        }
        let out = try await runOnce(runner, feeds)
        try emitCropped(out, photo.height, photo.width, emit)
    }

    private func resized(_ photo: Image, _ runner: ModelRunner, _ emit: (Int, [Float]) throws -> Void) async throws {
        guard let size = plan.resizeTo, size.count == 2 else {
            throw CamkitError("the resize plan has no size [height, width]; re-export")
        }
        var feeds: [String: Tensor] = [:]
        for io in inputs {
            let small = try Resample.resize(Packing.toFloatImage(photo, channels: io.channels), size[0], size[1], method: "area")
            feeds[io.name] = try Packing.packFloats(small, io)
        }
        let out = try await runOnce(runner, feeds)
        try emitCropped(Resample.resize(out, photo.height, photo.width, method: "bicubic"), photo.height, photo.width, emit)
    }

    private func emitCropped(_ out: FloatImage, _ height: Int, _ width: Int, _ emit: (Int, [Float]) throws -> Void) throws {
        try ensure(out.height >= height && out.width >= width,
                   "the model returned \(out.height)x\(out.width) for a \(height)x\(width) photo")
        let c = out.channels
        for y in 0..<height { try emit(y, Array(out.data[(y * out.width * c)..<((y * out.width + width) * c)])) }
    }

    private func runOnce(_ runner: ModelRunner, _ feeds: [String: Tensor]) async throws -> FloatImage {
        let outs = try await runner.run(feeds)
        guard let tensor = outs[output.name] else {
            throw CamkitError("the artifact returned no '\(output.name)' (it returned \(outs.keys.sorted().joined(separator: ", ")))")
        }
        return try Packing.unpackFloats(tensor, output)
    }
}
