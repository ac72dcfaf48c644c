import Foundation

/// Pixels to tensors and back, by the manifest's tensor description: NCHW or NHWC, float32
/// (`x / 255` in float32) or uint8 (`clip(round_half_even(float32(x / 255) / scale) +
/// zero_point, 0, 255)`: the byte itself for scale 1/255, zero point 0). Back: a uint8 value
/// is dequantized (`(q - zero_point) * scale`, float32), then `floor(clip(v, 0, 1) * 255 + 0.5)`.
/// Never min-max normalised: a value past [0, 1] clamps. 3 channels are RGB; a 1-channel
/// tensor takes the red channel (a gray photo's) and gives a gray image. Alpha is dropped and
/// comes back opaque.
public enum Packing {
    /// The photo `image` as the tensor `io` takes (its size must match a fixed `io` size).
    public static func pack(_ image: Image, _ io: TensorIo) throws -> Tensor {
        try requirePixels(io)
        return try packFloats(toFloatImage(image, channels: io.channels), io)
    }

    /// The tensor `tensor` (described by `io`) as pixels.
    public static func unpack(_ tensor: Tensor, _ io: TensorIo) throws -> Image {
        try requirePixels(io)
        return try toImage(unpackFloats(tensor, io))
    }

    /// `image` as float32 HWC values x / 255 with `channels` 3 (RGB) or 1 (red).
    public static func toFloatImage(_ image: Image, channels: Int = 3) throws -> FloatImage {
        try ensure(channels == 1 || channels == 3, "the app packs photos into 1 or 3 channels, not \(channels)")
        let pixels = image.width * image.height
        var data = [Float](repeating: 0, count: pixels * channels)
        image.rgba.withUnsafeBufferPointer { rgba in
            for p in 0..<pixels {
                for c in 0..<channels { data[p * channels + c] = Float(rgba[p * 4 + c]) / 255 }
            }
        }
        return try FloatImage(height: image.height, width: image.width, channels: channels, data: data)
    }

    /// HWC float `values` as the tensor `io` takes: its layout, its dtype (quantized).
    public static func packFloats(_ values: FloatImage, _ io: TensorIo) throws -> Tensor {
        let (h, w, c) = (values.height, values.width, values.channels)
        try ensure(c == io.channels && (io.height < 0 || io.height == h) && (io.width < 0 || io.width == w),
                   "tensor '\(io.name)' takes \(dims(io)), got \(h)x\(w)x\(c)")
        let nchw = io.layout == "nchw"
        let shape = nchw ? [1, c, h, w] : [1, h, w, c]
        let src = values.data
        if io.dtype == "float32" {
            if !nchw { return try Tensor(shape: shape, floats: src) }
            var out = [Float](repeating: 0, count: src.count)
            for i in 0..<h * w {
                for ch in 0..<c { out[ch * h * w + i] = src[i * c + ch] }
            }
            return try Tensor(shape: shape, floats: out)
        }
        let q = io.quantization!
        var out = [UInt8](repeating: 0, count: src.count)
        for i in 0..<h * w {
            for ch in 0..<c { out[nchw ? ch * h * w + i : i * c + ch] = quantize(src[i * c + ch], q) }
        }
        return try Tensor(shape: shape, bytes: out)
    }

    /// The tensor `tensor` of `io` as HWC float values (uint8 dequantized), not clamped.
    public static func unpackFloats(_ tensor: Tensor, _ io: TensorIo) throws -> FloatImage {
        let s = tensor.shape
        try ensure(s.count == 4 && s[0] == 1, "tensor '\(io.name)' came back with shape \(s); expected \(io.shape)")
        let nchw = io.layout == "nchw"
        let (c, h, w) = nchw ? (s[1], s[2], s[3]) : (s[3], s[1], s[2])
        try ensure(io.channels < 0 || c == io.channels,
                   "tensor '\(io.name)' came back with \(c) channels; expected \(io.channels)")
        try ensure(tensor.floats != nil || io.quantization != nil,
                   "tensor '\(io.name)' came back as uint8 but the manifest says \(io.dtype) without a quantization")
        let values = tensor.toFloats(io.quantization)
        if !nchw { return try FloatImage(height: h, width: w, channels: c, data: values) }
        var out = [Float](repeating: 0, count: values.count)
        for i in 0..<h * w {
            for ch in 0..<c { out[i * c + ch] = values[ch * h * w + i] }
        }
        return try FloatImage(height: h, width: w, channels: c, data: out)
    }

    /// HWC float values (3 channels RGB, 1 gray) as opaque pixels: floor(clip(v, 0, 1) * 255 + 0.5).
    public static func toImage(_ values: FloatImage) throws -> Image {
        let c = values.channels
        try ensure(c == 1 || c == 3, "an image has 1 or 3 channels, the tensor has \(c)")
        let pixels = values.height * values.width
        var rgba = [UInt8](repeating: 255, count: pixels * 4)
        values.data.withUnsafeBufferPointer { d in
            for i in 0..<pixels {
                let r = toByte(d[i * c])
                rgba[i * 4] = r
                rgba[i * 4 + 1] = c == 3 ? toByte(d[i * c + 1]) : r
                rgba[i * 4 + 2] = c == 3 ? toByte(d[i * c + 2]) : r
            }
        }
        return try Image(width: values.width, height: values.height, rgba: rgba)
    }

    /// A value in [0, 1] as a pixel byte: floor(clip(v, 0, 1) * 255 + 0.5), in float32 (NaN: 0,
    /// as the Kotlin core's `toInt()` gives).
    @inline(__always)
    public static func toByte(_ value: Float) -> UInt8 {
        if value.isNaN { return 0 }
        return UInt8(min(max(value, 0), 1) * 255 + 0.5)
    }

    /// A float32 value as uint8 by `q`: clip(round_half_even(value / scale) + zero_point, 0, 255).
    @inline(__always)
    public static func quantize(_ value: Float, _ q: Quantization) -> UInt8 {
        let stored = Double((value / Float(q.scale)).rounded(.toNearestOrEven)) + Double(q.zeroPoint)
        if !(stored > 0) { return 0 }  // NaN too
        return UInt8(min(stored, 255))
    }

    /// Float32 values (a sample's input) as `io` takes them: quantized when `io` is uint8.
    public static func toDtype(_ values: Tensor, _ io: TensorIo) throws -> Tensor {
        if io.dtype == values.dtype { return values }
        guard let f = values.floats else {
            throw CamkitError("tensor '\(io.name)' is uint8 where the manifest says \(io.dtype)")
        }
        let q = io.quantization!
        return try Tensor(shape: values.shape, bytes: f.map { quantize($0, q) })
    }

    private static func requirePixels(_ io: TensorIo) throws {
        let range = io.valueRange ?? [0.0, 1.0]
        try ensure(range == [0.0, 1.0], "tensor '\(io.name)' takes values in \(range); the app maps pixels to [0, 1] only")
        try ensure(io.channels == 1 || io.channels == 3, "tensor '\(io.name)' has \(io.channels) channels; pixels have 1 or 3")
    }

    private static func dims(_ io: TensorIo) -> String {
        "\(io.height < 0 ? "?" : String(io.height))x\(io.width < 0 ? "?" : String(io.width))x\(io.channels)"
    }
}
