import Foundation

/// Resizing float images as Pillow resizes mode "F" images (what toolkit/fullres.py `_resize`
/// uses for the lossy "resize" plan): separable, horizontal pass first, float64 weights and
/// sums, float32 between passes; "area" is Pillow's BOX filter, "bicubic" its BICUBIC (a = -0.5).
public enum Resample {
    /// `src` resized to `height` x `width` by `method` ("area" or "bicubic").
    public static func resize(_ src: FloatImage, _ height: Int, _ width: Int, method: String) throws -> FloatImage {
        let filter: (Double) -> Double
        let support: Double
        switch method {
        case "area":
            filter = box
            support = 0.5
        case "bicubic":
            filter = bicubic
            support = 2.0
        default:
            throw CamkitError("resize method '\(method)' is not one this app knows (area, bicubic); update the app")
        }
        var image = src
        if width != src.width { image = try pass(image, width, horizontal: true, filter, support) }
        if height != src.height { image = try pass(image, height, horizontal: false, filter, support) }
        return image
    }

    private static func box(_ x: Double) -> Double { x > -0.5 && x <= 0.5 ? 1 : 0 }

    private static func bicubic(_ x0: Double) -> Double {
        let a = -0.5
        let x = abs(x0)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// Per output index: the first input index, how many, and their normalised weights.
    private struct Coefficients {
        var start: [Int]
        var count: [Int]
        var weights: [[Double]]
    }

    private static func coefficients(_ inSize: Int, _ outSize: Int, _ filter: (Double) -> Double,
                                     _ support0: Double) -> Coefficients {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = support0 * filterScale
        let size = Int(support.rounded(.up)) * 2 + 1
        var k = Coefficients(start: [Int](repeating: 0, count: outSize), count: [Int](repeating: 0, count: outSize),
                             weights: [[Double]](repeating: [Double](repeating: 0, count: size), count: outSize))
        for o in 0..<outSize {
            let center = (Double(o) + 0.5) * scale
            let ss = 1 / filterScale
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), inSize)
            var total = 0.0
            for i in 0..<max(hi - lo, 0) {
                let w = filter((Double(i + lo) - center + 0.5) * ss)
                k.weights[o][i] = w
                total += w
            }
            if total != 0 {
                for i in 0..<max(hi - lo, 0) { k.weights[o][i] /= total }
            }
            k.start[o] = lo
            k.count[o] = max(hi - lo, 0)
        }
        return k
    }

    private static func pass(_ src: FloatImage, _ size: Int, horizontal: Bool, _ filter: (Double) -> Double,
                             _ support: Double) throws -> FloatImage {
        let c = src.channels
        let (h, w) = horizontal ? (src.height, size) : (size, src.width)
        let k = coefficients(horizontal ? src.width : src.height, size, filter, support)
        var out = [Float](repeating: 0, count: h * w * c)
        for y in 0..<h {
            for x in 0..<w {
                let o = horizontal ? x : y
                for ch in 0..<c {
                    var sum = 0.0
                    for i in 0..<k.count[o] {
                        let at = horizontal ? (y * src.width + k.start[o] + i) * c + ch
                            : ((k.start[o] + i) * src.width + x) * c + ch
                        sum += Double(src.data[at]) * k.weights[o][i]
                    }
                    out[(y * w + x) * c + ch] = Float(sum)
                }
            }
        }
        return try FloatImage(height: h, width: w, channels: c, data: out)
    }
}
