import Foundation

/// A dense tensor as a runtime takes and returns it: ``shape`` (row-major) and exactly one of
/// ``floats`` (float32) or ``bytes`` (uint8, 0...255).
public struct Tensor: Equatable, CustomStringConvertible {
    public let shape: [Int]
    public let floats: [Float]?
    public let bytes: [UInt8]?

    /// A float32 tensor.
    public init(shape: [Int], floats: [Float]) throws {
        try self.init(shape: shape, floats: floats, bytes: nil)
    }

    /// A uint8 tensor.
    public init(shape: [Int], bytes: [UInt8]) throws {
        try self.init(shape: shape, floats: nil, bytes: bytes)
    }

    private init(shape: [Int], floats: [Float]?, bytes: [UInt8]?) throws {
        self.shape = shape
        self.floats = floats
        self.bytes = bytes
        try ensure((floats == nil) != (bytes == nil), "a tensor holds floats or bytes, not both or none")
        try ensure(shape.allSatisfy { $0 >= 0 }, "tensor shape \(shape) has a negative dimension")
        let count = shape.reduce(1, *)
        try ensure(count == size, "tensor shape \(shape) holds \(count) values, got \(size)")
    }

    /// "float32" or "uint8".
    public var dtype: String { floats != nil ? "float32" : "uint8" }

    /// The number of values.
    public var size: Int { floats?.count ?? bytes?.count ?? 0 }

    /// Value `i` as a float: the float itself, or the byte (not dequantized).
    public func raw(_ i: Int) -> Float {
        if let floats { return floats[i] }
        return Float(bytes![i])
    }

    /// All values as float32: floats as they are, bytes dequantized by `quantization`
    /// (`(q - zero_point) * scale` in float32; none: the byte value).
    public func toFloats(_ quantization: Quantization?) -> [Float] {
        if let floats { return floats }
        let b = bytes!
        guard let quantization else { return b.map { Float($0) } }
        let scale = Float(quantization.scale)
        let zero = Float(quantization.zeroPoint)
        return b.map { (Float($0) - zero) * scale }
    }

    public var description: String { "Tensor(\(dtype) \(shape))" }
}

/// Pixels as the app decodes a photo: ``rgba`` row by row, 4 bytes a pixel (red, green, blue,
/// alpha), as a CoreGraphics RGBA8 bitmap holds them. The Kotlin core's `Image` holds
/// Android's ARGB ints instead; the channels read the same through ``channel(_:_:_:)``.
public struct Image: Equatable {
    public let width: Int
    public let height: Int
    public let rgba: [UInt8]

    /// An image of `width` x `height` pixels.
    public init(width: Int, height: Int, rgba: [UInt8]) throws {
        try ensure(width > 0 && height > 0 && rgba.count == width * height * 4,
                   "an image of \(width)x\(height) needs \(width * height * 4) RGBA bytes, got \(rgba.count)")
        self.width = width
        self.height = height
        self.rgba = rgba
    }

    /// Channel `c` (0 red, 1 green, 2 blue) of pixel (`y`, `x`), 0...255.
    @inline(__always)
    public func channel(_ y: Int, _ x: Int, _ c: Int) -> Int {
        Int(rgba[(y * width + x) * 4 + c])
    }
}

/// A float image, height x width x channels, channels last (HWC): tiles, outputs, thumbnails.
public struct FloatImage: Equatable {
    public let height: Int
    public let width: Int
    public let channels: Int
    public let data: [Float]

    /// A `height` x `width` x `channels` image of `data` (HWC order).
    public init(height: Int, width: Int, channels: Int, data: [Float]) throws {
        try ensure(data.count == height * width * channels,
                   "a \(height)x\(width)x\(channels) float image needs \(height * width * channels) values, got \(data.count)")
        self.height = height
        self.width = width
        self.channels = channels
        self.data = data
    }
}
