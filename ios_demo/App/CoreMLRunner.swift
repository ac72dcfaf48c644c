// Core ML, as the iOS 17.4+ SDK (Xcode 16) declares it: MLModel.compileModel(at:) async (iOS 16),
// MLModel.load(contentsOf:configuration:) async (iOS 15), MLModel.prediction(from:options:) async
// (iOS 17), MLModelConfiguration.computeUnits, MLMultiArray(shape:dataType:) and its
// withUnsafe(Mutable)BufferPointer(ofType:) / withUnsafeBytes (iOS 15.4), MLComputePlan (iOS 17.4,
// App/ComputePlanReport.swift).
import CamkitCore
import CoreML
import Foundation

extension Backend {
    /// The `MLComputeUnits` this backend loads a model with.
    var mlComputeUnits: MLComputeUnits {
        switch self {
        case .coremlAll: return .all
        case .coremlCpu: return .cpuOnly
        case .coremlGpu: return .cpuAndGPU
        case .coremlAne: return .cpuAndNeuralEngine
        }
    }
}

/// Compiled models (`.mlmodelc`) under Application Support/camkit/compiled, by the sha256 of
/// the `.mlpackage` they were compiled from: a package that changed is a new entry.
final class CompiledModelCache {
    let root: URL

    init() throws {
        let fm = FileManager.default
        let support = try fm.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        var root = support.appendingPathComponent("camkit/compiled", isDirectory: true)
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        var values = URLResourceValues()
        values.isExcludedFromBackup = true  // derived data: compiled again when missing
        try? root.setResourceValues(values)
        self.root = root
    }

    /// The compiled model of `package` (whose sha256 is `sha256`): the cached one, or compiled
    /// now with `MLModel.compileModel(at:)` (always with `fresh`) and cached.
    func compiled(_ package: URL, sha256: String, fresh: Bool) async throws -> URL {
        let fm = FileManager.default
        let target = root.appendingPathComponent("\(sha256).mlmodelc", isDirectory: true)
        if !fresh && fm.fileExists(atPath: target.path) { return target }
        let temporary: URL
        do {
            temporary = try await MLModel.compileModel(at: package)
        } catch {
            throw CamkitError("Core ML cannot compile \(package.lastPathComponent) (\(error.localizedDescription)); re-export it with camkit")
        }
        if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
        try fm.moveItem(at: temporary, to: target)
        return target
    }
}

/// The app's ``RunnerFactory``: Core ML. Verifies nothing itself (``Manifest/read(_:verifySha256:)``
/// checked the package's sha256 before anything is compiled), compiles through the cache, reads
/// the compute plan, refuses in strict mode an op planned off the requested device, loads.
final class CoreMLRunnerFactory: RunnerFactory {
    private let cache: CompiledModelCache
    /// Compile afresh on each package's first load through this factory: the benchmark's cold
    /// load then includes the compile, its warm load reads the compiled model.
    private let compileFresh: Bool
    private var compiledHere: Set<String> = []
    private var plans: [String: Result<[PlannedOp], Error>] = [:]

    init(compileFresh: Bool) throws {
        cache = try CompiledModelCache()
        self.compileFresh = compileFresh
    }

    func load(_ artifact: URL, manifest: Manifest, backend: Backend, strict: Bool) async throws -> ModelRunner {
        guard manifest.format == backend.format else {
            throw CamkitError("\(backend.id) runs Core ML packages but \(manifest.file.lastPathComponent) is \(manifest.format); push a Core ML export")
        }
        let (inputs, outputs, sha256) = try ioOf(artifact, manifest)
        let fresh = compileFresh && !compiledHere.contains(sha256)
        let compiled = try await cache.compiled(artifact, sha256: sha256, fresh: fresh)
        compiledHere.insert(sha256)
        let configuration = MLModelConfiguration()
        configuration.computeUnits = backend.mlComputeUnits
        let key = "\(sha256) \(backend.computeUnits)"
        if plans[key] == nil {
            do {
                let planned = try await ComputePlanReport.plannedOps(compiled, configuration)
                plans[key] = .success(planned)
            } catch {
                plans[key] = .failure(error)
            }
        }
        let plan = try? plans[key]?.get()
        if strict && backend.strictDevice != nil {
            guard let plan else {
                throw CamkitError("strict: Core ML's compute plan could not be read, so the placement cannot be checked; run with strict off")
            }
            if let refusal = ComputePlan.strictRefusal(plan, backend) { throw CamkitError(refusal) }
        }
        let model: MLModel
        do {
            model = try await MLModel.load(contentsOf: compiled, configuration: configuration)
        } catch {
            throw CamkitError("Core ML cannot load \(artifact.lastPathComponent) with \(backend.computeUnits) (\(error.localizedDescription))")
        }
        var note = ComputePlan.plannedNote
        if case let .failure(error)? = plans[key] { note = "no compute plan: \(error.localizedDescription)" }
        return CoreMLRunner(model: model, inputs: inputs, outputs: outputs, backend: backend, plan: plan, planNote: note)
    }

    /// The io and sha256 of `artifact`: the manifest's artifact, or its features artifact.
    private func ioOf(_ artifact: URL, _ manifest: Manifest) throws -> ([TensorIo], [TensorIo], String) {
        let path = artifact.standardizedFileURL.path
        if path == manifest.artifact().standardizedFileURL.path {
            return (manifest.inputs, manifest.outputs, manifest.artifactSha256)
        }
        if let features = manifest.features(), path == features.standardizedFileURL.path {
            let stats = manifest.fullResolution?.statistics
            guard let inputs = stats?.artifactInputs, let outputs = stats?.artifactOutputs else {
                throw CamkitError("\(manifest.file.lastPathComponent) names the features artifact \(features.lastPathComponent) without its io; re-export it with this camkit")
            }
            return (inputs, outputs, try manifest.featuresSha256 ?? Sha256.of(features))
        }
        throw CamkitError("\(artifact.lastPathComponent) is neither the artifact nor the features artifact of \(manifest.file.lastPathComponent)")
    }
}

/// One loaded Core ML model: CamkitCore tensors in, tensors out, predictions asynchronous.
final class CoreMLRunner: ModelRunner {
    private let model: MLModel
    private let inputs: [TensorIo]
    private let outputs: [TensorIo]
    let delegation: Delegation
    let ops: [OpRow]
    let options: [String: String]
    /// Core ML ships with iOS: its version is the OS's.
    let runtimeVersion: String? = IOSPlatform.osVersion

    init(model: MLModel, inputs: [TensorIo], outputs: [TensorIo], backend: Backend, plan: [PlannedOp]?, planNote: String) {
        self.model = model
        self.inputs = inputs
        self.outputs = outputs
        delegation = plan.map { ComputePlan.delegation($0, backend) } ?? .unknown
        ops = plan.map { ComputePlan.rows($0, backend) } ?? []
        options = ["compute_plan": planNote]
    }

    func run(_ feeds: [String: Tensor]) async throws -> [String: Tensor] {
        var values: [String: Any] = [:]
        for io in inputs {
            guard let tensor = feeds[io.name] else { throw CamkitError("no tensor for the input '\(io.name)'") }
            let type = model.modelDescription.inputDescriptionsByName[io.name]?.multiArrayConstraint?.dataType ?? .float32
            values[io.name] = MLFeatureValue(multiArray: try MultiArrays.make(tensor, type))
        }
        let provider = try MLDictionaryFeatureProvider(dictionary: values)
        let result = try await model.prediction(from: provider, options: MLPredictionOptions())
        var out: [String: Tensor] = [:]
        for io in outputs {
            guard let array = result.featureValue(for: io.name)?.multiArrayValue else {
                throw CamkitError("Core ML returned no array '\(io.name)' (it returned \(result.featureNames.sorted().joined(separator: ", ")))")
            }
            out[io.name] = try MultiArrays.tensor(array, io)
        }
        return out
    }
}

/// CamkitCore tensors to `MLMultiArray`s and back, honouring the arrays' strides.
enum MultiArrays {
    static func make(_ tensor: Tensor, _ type: MLMultiArrayDataType) throws -> MLMultiArray {
        let array = try MLMultiArray(shape: tensor.shape.map { NSNumber(value: $0) }, dataType: type)
        let offsets = rowMajorOffsets(tensor.shape, array.strides.map { $0.intValue })
        switch type {
        case .float32:
            array.withUnsafeMutableBufferPointer(ofType: Float.self) { pointer, _ in
                for (i, offset) in offsets.enumerated() { pointer[offset] = tensor.raw(i) }
            }
        case .double:
            array.withUnsafeMutableBufferPointer(ofType: Double.self) { pointer, _ in
                for (i, offset) in offsets.enumerated() { pointer[offset] = Double(tensor.raw(i)) }
            }
        default:  // float16, int32: Core ML converts an NSNumber per element (slow; camkit exports float32 I/O)
            var index = [Int](repeating: 0, count: tensor.shape.count)
            for i in 0..<tensor.size {
                array[index.map { NSNumber(value: $0) }] = NSNumber(value: tensor.raw(i))
                var d = index.count - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < tensor.shape[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return array
    }

    /// `array` as a float32 tensor of `io`'s shape when Core ML dropped or added unit axes.
    static func tensor(_ array: MLMultiArray, _ io: TensorIo) throws -> Tensor {
        var shape = array.shape.map { $0.intValue }
        let offsets = rowMajorOffsets(shape, array.strides.map { $0.intValue })
        var floats = [Float](repeating: 0, count: offsets.count)
        switch array.dataType {
        case .float32:
            array.withUnsafeBufferPointer(ofType: Float.self) { p in for (i, o) in offsets.enumerated() { floats[i] = p[o] } }
        case .double:
            array.withUnsafeBufferPointer(ofType: Double.self) { p in for (i, o) in offsets.enumerated() { floats[i] = Float(p[o]) } }
        case .int32:
            array.withUnsafeBufferPointer(ofType: Int32.self) { p in for (i, o) in offsets.enumerated() { floats[i] = Float(p[o]) } }
        case .float16:
            array.withUnsafeBytes { raw in
                for (i, o) in offsets.enumerated() { floats[i] = halfToFloat(raw.load(fromByteOffset: 2 * o, as: UInt16.self)) }
            }
        default:
            throw CamkitError("Core ML returned '\(io.name)' as data type \(array.dataType.rawValue), which the app does not read")
        }
        if shape.count != io.shape.count, io.shape.allSatisfy({ $0 > 0 }), io.shape.reduce(1, *) == floats.count {
            shape = io.shape
        }
        return try Tensor(shape: shape, floats: floats)
    }

    /// Memory offsets of the elements of `shape`, in row-major order, for `strides`.
    static func rowMajorOffsets(_ shape: [Int], _ strides: [Int]) -> [Int] {
        let count = shape.reduce(1, *)
        var offsets: [Int] = []
        offsets.reserveCapacity(count)
        var index = [Int](repeating: 0, count: shape.count)
        for _ in 0..<count {
            var offset = 0
            for d in 0..<shape.count { offset += index[d] * strides[d] }
            offsets.append(offset)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return offsets
    }

    /// An IEEE 754 half (as its bits) as a float.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 { return sign * Float(mantissa) * 0x1p-24 }  // zero and subnormals
        let bits = UInt32(h & 0x8000) << 16 | (exponent == 31 ? 0x7F80_0000 : UInt32(exponent + 112) << 23) | mantissa << 13
        return Float(bitPattern: bits)
    }
}
