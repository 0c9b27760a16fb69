package service

var MemoryLimit = memoryLimit
