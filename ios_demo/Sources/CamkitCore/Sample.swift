import Foundation

/// A manifest's sample as the benchmark uses it: ``feeds`` (each input in the artifact's
/// dtype: the sample's float32 quantized for a uint8 input), the torch ``references`` per
/// output (float32, the artifact's layout), and the first image input as pixels (``image``,
/// for timing pre-processing) with the tensor it feeds (``imageIo``).
public struct SampleData {
    public let feeds: [String: Tensor]
    public let references: [String: [Float]]
    public let image: Image?
    public let imageIo: TensorIo?

    /// The sample `manifest` names; without one, mid-grey inputs (and no references).
    public static func read(_ manifest: Manifest) throws -> SampleData {
        guard let file = manifest.sample() else { return try synthetic(manifest) }
        let arrays = try Npz.read(file)
        var feeds: [String: Tensor] = [:]
        for io in manifest.inputs {
            guard let t = arrays["in/\(io.name)"] else {
                throw CamkitError("sample \(file.lastPathComponent) has no 'in/\(io.name)'; re-export the artifact")
            }
            try ensure(t.shape.count == io.shape.count && io.shape.indices.allSatisfy { io.shape[$0] < 0 || io.shape[$0] == t.shape[$0] },
                       "sample \(file.lastPathComponent) holds \(io.name) of shape \(t.shape), the manifest says \(io.shape); re-export")
            feeds[io.name] = try Packing.toDtype(t, io)
        }
        var references: [String: [Float]] = [:]
        for io in manifest.outputs {
            if let t = arrays["out/\(io.name)"] { references[io.name] = t.toFloats(io.quantization) }
        }
        let imageIo = manifest.inputs.first { $0.role == "image" && ($0.channels == 1 || $0.channels == 3) }
        var image: Image?
        if let imageIo, let t = arrays["in/\(imageIo.name)"] {
            image = try Packing.toImage(Packing.unpackFloats(t, imageIo))
        }
        return SampleData(feeds: feeds, references: references, image: image, imageIo: imageIo)
    }

    private static func synthetic(_ manifest: Manifest) throws -> SampleData {
        var feeds: [String: Tensor] = [:]
        for io in manifest.inputs {
            try ensure(io.shape.allSatisfy { $0 > 0 },
                       "\(manifest.file.lastPathComponent) names no sample and '\(io.name)' has a dynamic shape \(io.shape); re-export with a sample")
            let values = try Tensor(shape: io.shape, floats: [Float](repeating: 0.5, count: io.shape.reduce(1, *)))
            feeds[io.name] = try Packing.toDtype(values, io)
        }
        return SampleData(feeds: feeds, references: [:], image: nil, imageIo: nil)
    }
}
