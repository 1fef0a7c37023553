/** An inclusive range of register or point addresses, as policy documents write it (`start`..`end`). */
export interface AddressRange { start: number; end: number }
