import Foundation

/// A tile's origin in the padded frame, and whether its rows / columns have a neighbour
/// before (``leadY``, ``leadX``) and after (``trailY``, ``trailX``) it.
public struct TileOrigin: Equatable {
    public let top: Int
    public let left: Int
    public let leadY: Bool
    public let trailY: Bool
    public let leadX: Bool
    public let trailX: Bool
}

/// The tile geometry of toolkit/fullres.py: grid, reflection, ramps.
public enum Tiling {
    /// Tile origins along a side of `length`: 0, step, 2 step, ... below length - tile, then
    /// length - tile; step = floor((tile - overlap) / align) * align; one at 0 when it fits.
    public static func starts(_ length: Int, _ tile: Int, _ overlap: Int, _ align: Int = 1) throws -> [Int] {
        if length <= tile { return [0] }
        let step = (tile - overlap) / align * align
        try ensure(step > 0, "tile \(tile) leaves no step after an overlap of \(overlap)")
        return Array(stride(from: 0, to: length - tile, by: step)) + [length - tile]
    }

    /// The photo's size after reflection up to the tile size and the alignment multiple.
    public static func paddedSize(_ height: Int, _ width: Int, _ plan: TilePlan) -> (Int, Int) {
        let a = plan.align
        return (max(plan.tileH, (height + a - 1) / a * a), max(plan.tileW, (width + a - 1) / a * a))
    }

    /// Every tile of a `height` x `width` photo, row by row (origins in the padded frame).
    public static func grid(_ height: Int, _ width: Int, _ plan: TilePlan) throws -> [TileOrigin] {
        let (ph, pw) = paddedSize(height, width, plan)
        let tops = try starts(ph, plan.tileH, plan.overlap, plan.align)
        let lefts = try starts(pw, plan.tileW, plan.overlap, plan.align)
        return tops.flatMap { top in
            lefts.map { left in
                TileOrigin(top: top, left: left, leadY: top > 0, trailY: top < tops.last!,
                           leadX: left > 0, trailX: left < lefts.last!)
            }
        }
    }

    /// Weights of a tile side: 0 over `margin`, then (k + 0.5) / `blend`, then 1, at an end
    /// with a neighbour (`lead`: the start, `trail`: the end); 1 at an end on the photo's border.
    public static func ramp(_ size: Int, lead: Bool, trail: Bool, margin: Int, blend: Int) -> [Double] {
        var w = [Double](repeating: 1, count: size)
        if lead {
            for i in 0..<margin { w[i] = 0 }
            for k in 0..<blend { w[margin + k] = min(w[margin + k], (Double(k) + 0.5) / Double(blend)) }
        }
        if trail {
            for i in size - margin..<size { w[i] = 0 }
            for k in 0..<blend {
                let i = size - margin - 1 - k
                w[i] = min(w[i], (Double(k) + 0.5) / Double(blend))
            }
        }
        return w
    }

    /// `index` folded into 0..<`length` by reflection without repeating the edge.
    public static func reflectIndex(_ index: Int, _ length: Int) -> Int {
        if length == 1 { return 0 }
        let period = 2 * (length - 1)
        let m = ((index % period) + period) % period
        return m >= length ? period - m : m
    }

    /// The `height` x `width` crop at (`top`, `left`) of `photo` reflected past its borders, as
    /// HWC float32 x / 255 with `channels` 3 (RGB) or 1 (red).
    public static func cropReflected(_ photo: Image, top: Int, left: Int, height: Int, width: Int,
                                     channels: Int = 3) throws -> FloatImage {
        let cols = (0..<width).map { reflectIndex(left + $0, photo.width) }
        var data = [Float](repeating: 0, count: height * width * channels)
        var k = 0
        photo.rgba.withUnsafeBufferPointer { rgba in
            for y in 0..<height {
                let row = reflectIndex(top + y, photo.height) * photo.width
                for x in 0..<width {
                    let p = (row + cols[x]) * 4
                    for c in 0..<channels {
                        data[k] = Float(rgba[p + c]) / 255
                        k += 1
                    }
                }
            }
        }
        return try FloatImage(height: height, width: width, channels: channels, data: data)
    }
}
