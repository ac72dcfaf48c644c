import Foundation

/// How a uint8 tensor maps to values: `value = (stored - zeroPoint) * scale`.
public struct Quantization: Equatable, Decodable {
    public let scale: Double
    public let zeroPoint: Int

    public init(scale: Double, zeroPoint: Int) {
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// Scale 1/255 and zero point 0: the stored byte is the pixel itself.
    public var isPixelBytes: Bool { zeroPoint == 0 && abs(scale * 255.0 - 1.0) < 1e-9 }

    private enum CodingKeys: String, CodingKey {
        case scale
        case zeroPoint = "zero_point"
    }
}

/// One tensor of an artifact as its manifest describes it (`io.inputs[]` / `io.outputs[]`).
/// ``shape`` is batch-first, 4-D; a dynamic dimension (JSON null) is -1. ``valueRange`` nil
/// means unbounded (a statistics vector). ``role``: image, mask, thumbnail, statistics,
/// features; ``of``: the input a thumbnail or statistics input is made from.
public struct TensorIo: Equatable {
    public let name: String
    public let shape: [Int]
    public let dtype: String
    public let quantization: Quantization?
    public let layout: String
    public let valueRange: [Double]?
    public let colorSpace: String?
    public let role: String
    public let of: String?

    /// The layouts the app can feed.
    public static let layouts = ["nchw", "nhwc"]
    /// The dtypes the app can feed.
    public static let dtypes = ["float32", "uint8"]

    public init(name: String, shape: [Int], dtype: String, quantization: Quantization?, layout: String,
                valueRange: [Double]?, colorSpace: String?, role: String, of: String?) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.quantization = quantization
        self.layout = layout
        self.valueRange = valueRange
        self.colorSpace = colorSpace
        self.role = role
        self.of = of
    }

    /// Channels (C of NCHW or NHWC).
    public var channels: Int { layout == "nchw" ? shape[1] : shape[3] }
    /// Height; -1 when dynamic.
    public var height: Int { layout == "nchw" ? shape[2] : shape[1] }
    /// Width; -1 when dynamic.
    public var width: Int { layout == "nchw" ? shape[3] : shape[2] }
}

extension TensorIo: Decodable {
    private enum CodingKeys: String, CodingKey {
        case name, shape, dtype, quantization, layout, role, of
        case valueRange = "value_range"
        case colorSpace = "color_space"
    }

    /// A manifest tensor entry, refused (``CamkitError``) when the app cannot feed or read it.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .name)
        let at = "tensor '\(name)' of \(decoder.camkitWhere)"
        let layout = try c.decode(String.self, forKey: .layout)
        try ensure(TensorIo.layouts.contains(layout),
                   "\(at) has layout '\(layout)'; the app feeds nchw or nhwc: re-export with --layout nchw or nhwc")
        let dtype = try c.decode(String.self, forKey: .dtype)
        try ensure(TensorIo.dtypes.contains(dtype),
                   "\(at) has dtype '\(dtype)'; the app feeds float32 or uint8: re-export with --io-dtype float32 or uint8")
        let quantization = try c.decodeIfPresent(Quantization.self, forKey: .quantization)
        try ensure(dtype != "uint8" || quantization != nil,
                   "\(at) is uint8 without a quantization (scale, zero_point); re-export it with this camkit")
        let shape = try c.decode([Int?].self, forKey: .shape).map { $0 ?? -1 }
        try ensure(shape.count == 4 && shape[0] == 1, "\(at) has shape \(shape); the app feeds 4-D tensors of batch 1")
        self.init(name: name, shape: shape, dtype: dtype, quantization: quantization, layout: layout,
                  valueRange: try c.decodeIfPresent([Double].self, forKey: .valueRange),
                  colorSpace: try c.decodeIfPresent(String.self, forKey: .colorSpace),
                  role: try c.decodeIfPresent(String.self, forKey: .role) ?? "image",
                  of: try c.decodeIfPresent(String.self, forKey: .of))
    }
}

/// A manifest's `io` block.
struct IoBlock: Decodable {
    let inputs: [TensorIo]
    let outputs: [TensorIo]
}

/// The parts of a manifest the app reads (toolkit/artifacts.py writes them); the rest is ignored.
private struct ManifestDocument: Decodable {
    struct FileRef: Decodable {
        let file: String
        let sha256: String?
    }

    struct Budget: Decodable {
        let psnrDbMin: Double

        private enum CodingKeys: String, CodingKey {
            case psnrDbMin = "psnr_db_min"
        }
    }

    let modelId: String
    let variant: String
    let format: String
    let precision: String
    let artifact: FileRef
    let io: IoBlock
    let sample: FileRef?
    let fullResolution: FullResolutionPlan?
    let budget: Budget?

    private enum CodingKeys: String, CodingKey {
        case variant, format, precision, artifact, io, sample, budget
        case modelId = "model_id"
        case fullResolution = "full_resolution"
    }
}

/// Only the manifest's schema, read before anything else.
private struct SchemaProbe: Decodable {
    let schema: Int?
}

/// A camkit manifest (`<artifact>.manifest.json`, schema 1): which artifact, how to feed it,
/// its sample and its full-resolution plan. Files it names live in the manifest's own folder.
public struct Manifest {
    /// The manifest schema this core reads.
    public static let schema = 1

    /// The manifest file itself.
    public let file: URL
    public let modelId: String
    public let variant: String
    /// onnx, litert or coreml.
    public let format: String
    /// fp32, fp16, w8a8, w8a16, w8.
    public let precision: String
    public let artifactFile: String
    public let artifactSha256: String
    public let inputs: [TensorIo]
    public let outputs: [TensorIo]
    public let sampleFile: String?
    /// The manifest's `full_resolution` block, parsed (nil when absent).
    public let fullResolution: FullResolutionPlan?
    /// `full_resolution.statistics.artifact.file`: a split by tiles' features artifact.
    public let featuresArtifact: String?
    public let sampleSha256: String?
    public let featuresSha256: String?
    /// The card's parity budget for this format and precision (manifest `budget.psnr_db_min`):
    /// the lowest PSNR an output may have against the sample's reference; nil when the manifest
    /// has none (an older camkit, a model without a card).
    public let psnrBudgetDb: Double?

    private var folder: URL { file.deletingLastPathComponent() }

    /// The artifact file (or folder: an .mlpackage).
    public func artifact() -> URL { folder.appendingPathComponent(artifactFile) }

    /// The sample (`.sample.npz`: `in/<name>`, `out/<name>`), or nil when none is named.
    public func sample() -> URL? { sampleFile.map { folder.appendingPathComponent($0) } }

    /// The features artifact of a split by tiles, or nil.
    public func features() -> URL? { featuresArtifact.map { folder.appendingPathComponent($0) } }

    /// The input named `name`.
    public func input(_ name: String) throws -> TensorIo {
        guard let io = inputs.first(where: { $0.name == name }) else {
            throw CamkitError("\(file.lastPathComponent) has no input '\(name)' (it has \(inputs.map(\.name).joined(separator: ", ")))")
        }
        return io
    }

    /// Reads and checks `file`: refuses an unknown schema, a tensor the app cannot feed, and
    /// (with `verifySha256`) a missing artifact, features artifact or sample, or one whose
    /// sha256 is not the manifest's.
    public static func read(_ file: URL, verifySha256: Bool = true) throws -> Manifest {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory)
        try ensure(exists && !isDirectory.boolValue, "no manifest at \(file.path); push it with 'camkit app push'")
        let name = file.lastPathComponent
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw CamkitError("\(name) cannot be read (\(firstLine(error.localizedDescription))); push it again")
        }
        guard let schema = try JsonDecoding.decode(SchemaProbe.self, from: data, where: name).schema else {
            throw CamkitError("\(name) is not a camkit manifest (no 'schema'); export it with camkit")
        }
        try ensure(schema == Manifest.schema,
                   "\(name) has manifest schema \(schema); this app reads schema \(Manifest.schema): re-export with a matching camkit or update the app")
        let doc = try JsonDecoding.decode(ManifestDocument.self, from: data, where: name)
        let manifest = Manifest(
            file: file, modelId: doc.modelId, variant: doc.variant, format: doc.format, precision: doc.precision,
            artifactFile: doc.artifact.file, artifactSha256: doc.artifact.sha256 ?? "",
            inputs: doc.io.inputs, outputs: doc.io.outputs, sampleFile: doc.sample?.file,
            fullResolution: doc.fullResolution, featuresArtifact: doc.fullResolution?.statistics?.artifactFile,
            sampleSha256: doc.sample?.sha256, featuresSha256: doc.fullResolution?.statistics?.artifactSha256,
            psnrBudgetDb: doc.budget?.psnrDbMin)
        try ensure(!manifest.artifactSha256.isEmpty, "\(name) has no artifact sha256; re-export the artifact with camkit")
        if verifySha256 { try manifest.verify() }
        return manifest
    }

    /// Every file this manifest names exists and has its sha256 (when the manifest gives one).
    public func verify() throws {
        try verifyOne("artifact", artifact(), artifactSha256)
        if let url = features() { try verifyOne("features artifact", url, featuresSha256) }
        if let url = sample() { try verifyOne("sample", url, sampleSha256) }
    }

    private func verifyOne(_ what: String, _ target: URL, _ sha256: String?) throws {
        try ensure(FileManager.default.fileExists(atPath: target.path),
                   "the \(what) \(target.lastPathComponent) named by \(file.lastPathComponent) is missing; push it with 'camkit app push'")
        guard let sha256 else { return }
        let actual = try Sha256.of(target)
        try ensure(actual.lowercased() == sha256.lowercased(),
                   "the \(what) \(target.lastPathComponent) has sha256 \(actual) but \(file.lastPathComponent) says \(sha256); push it again with 'camkit app push'")
    }
}
